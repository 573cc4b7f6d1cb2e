"""Standalone validator for helper-written eval files (schema only)."""
import sys, yaml
OUT = {"answer", "uncovered", "policy", "decline"}
SLOTS = {"employees": int, "pcs": int, "it_staff": (int, float), "key_user": bool, "locations": int,
         "production_systems": bool, "confidential_areas": bool, "needs_24x7": bool, "regulated": bool,
         "growth": bool, "remote_work": bool, "cloud": bool,
         "internal_cost_per_it_staff_eur": (int, float), "external_price_per_user_month_eur": (int, float),
         "external_price_per_pc_month_eur": (int, float)}
def facts_ok(f, where):
    assert isinstance(f, list) and f, f"{where}: facts must be a non-empty list"
    for a in f:
        if isinstance(a, list):
            assert a and all(isinstance(x, str) and x.strip() for x in a), f"{where}: bad fact group {a!r}"
        else:
            assert isinstance(a, str) and a.strip(), f"{where}: bad fact {a!r}"
def main(path):
    data = yaml.safe_load(open(path, encoding="utf-8"))
    assert isinstance(data, dict), "top level must be a mapping"
    assert set(data) <= {"cases", "conversations"}, f"unknown top-level keys {set(data) - {'cases','conversations'}}"
    ids = set(); n = m = 0
    for c in data.get("cases") or []:
        assert set(c) <= {"id", "q", "outcome", "facts", "contains", "tags"}, f"{c.get('id')}: unknown keys {set(c)}"
        cid = c["id"]; assert cid not in ids, f"duplicate id {cid}"; ids.add(cid)
        assert isinstance(c.get("q"), str) and c["q"].strip(), f"{cid}: q"
        assert c.get("outcome") in OUT, f"{cid}: outcome {c.get('outcome')!r}"
        if c["outcome"] == "answer":
            facts_ok(c.get("facts"), cid)
            assert c.get("contains"), f"{cid}: answer case needs contains"
        elif "facts" in c: facts_ok(c["facts"], cid)
        if "contains" in c: assert all(isinstance(s, str) and s.strip() for s in c["contains"]), cid
        n += 1
    for conv in data.get("conversations") or []:
        assert set(conv) <= {"id", "persona", "turns"}, f"{conv.get('id')}: unknown keys"
        cid = conv["id"]; assert cid not in ids, f"duplicate id {cid}"; ids.add(cid)
        assert conv.get("turns"), f"{cid}: turns"
        for i, t in enumerate(conv["turns"], 1):
            w = f"{cid} turn {i}"
            assert set(t) <= {"user", "profile", "outcome", "facts", "contains"}, f"{w}: unknown keys {set(t)}"
            assert isinstance(t.get("user"), str) and t["user"].strip(), w
            assert t.get("outcome") in OUT, f"{w}: outcome"
            for k, v in (t.get("profile") or {}).items():
                assert k in SLOTS, f"{w}: unknown slot {k}"
                assert isinstance(v, SLOTS[k]) and not (SLOTS[k] is int and isinstance(v, bool)), f"{w}: slot {k} value {v!r}"
            if "facts" in t: facts_ok(t["facts"], w)
        m += 1
    print(f"OK: {n} cases, {m} conversations")
if __name__ == "__main__":
    try: main(sys.argv[1])
    except AssertionError as e: print("INVALID:", e); sys.exit(2)
