/*! IT-Berater staff playground — vanilla JS, no dependencies, no third-party requests.
 * Runs under a strict CSP (script-src 'self'; style-src 'self'): no inline scripts or styles,
 * no innerHTML. Every string from the server is set as text (textContent / text nodes). */
(() => {
  'use strict';

  const KEY = 'itadvisor.staff';
  const API = '/api/staff';
  const MAX = 2000;
  const ASK_TIMEOUT_MS = 120000;
  const EVAL_TIMEOUT_MS = 600000;

  // ---------------------------------------------------------------------------- helpers
  const $ = (id) => document.getElementById(id);
  const str = (v) => (typeof v === 'string' ? v : v == null ? '' : String(v));
  const isObj = (v) => v != null && typeof v === 'object' && !Array.isArray(v);
  const arr = (v) => (Array.isArray(v) ? v : []);
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

  const h = (tag, props, ...kids) => {
    const el = document.createElement(tag);
    if (props) {
      for (const k of Object.keys(props)) {
        const v = props[k];
        if (v == null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = str(v);
        else if (k === 'value') el.value = str(v);
        else if (k === 'checked') el.checked = !!v;
        else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false) el.append(kid);
    return el;
  };
  // replaceChildren with nested arrays and null/false left out
  const fill = (el, ...kids) => el.replaceChildren(...kids.flat(Infinity).filter((k) => k != null && k !== false));
  const SVGNS = 'http://www.w3.org/2000/svg';
  const icon = (d, cls) => {
    const s = document.createElementNS(SVGNS, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    s.setAttribute('focusable', 'false');
    s.setAttribute('class', `ic${cls ? ' ' + cls : ''}`);
    const p = document.createElementNS(SVGNS, 'path');
    p.setAttribute('d', d);
    s.append(p);
    return s;
  };
  const I = {
    up: 'M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3',
    down: 'M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3zM17 2h2.67A2.31 2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17',
    x: 'M6 6l12 12M18 6L6 18',
    check: 'M5 12.5l4.5 4.5L19 7',
  };

  const NF = new Map();
  const nf = (d) => {
    if (!NF.has(d)) NF.set(d, new Intl.NumberFormat('de-DE', { minimumFractionDigits: d, maximumFractionDigits: d }));
    return NF.get(d);
  };
  const fmt = (v, d = 3) => (num(v) == null ? '–' : nf(d).format(v));
  const fmtSigned = (v, d = 3) => (num(v) == null ? '–' : (v > 0 ? '+' : v < 0 ? '−' : '±') + nf(d).format(Math.abs(v)));
  const DTF = new Intl.DateTimeFormat('de-DE', { dateStyle: 'short', timeStyle: 'short' });
  const TF = new Intl.DateTimeFormat('de-DE', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  // ISO strings or epoch numbers (seconds, as the session store keeps them, or milliseconds)
  const fmtDate = (s) => {
    if (s == null || s === '') return '–';
    const d = typeof s === 'number' ? new Date(s < 1e11 ? s * 1000 : s) : new Date(str(s));
    return isNaN(d) ? str(s) : DTF.format(d);
  };
  const clamp01 = (v) => Math.max(0, Math.min(1, v));
  // widths and positions go through the CSSOM (allowed under style-src 'self')
  const bar = (frac, cls) => {
    const fill = h('i');
    fill.style.width = `${(clamp01(num(frac) || 0) * 100).toFixed(1)}%`;
    return h('span', { class: `bar${cls ? ' ' + cls : ''}`, 'aria-hidden': 'true' }, fill);
  };
  let uid = 0;
  const nextId = (p) => `${p}-${++uid}`;
  const norm = (s) => str(s).normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
  const lines = (s) => str(s).split(/\r?\n/).map((x) => x.trim()).filter(Boolean);

  const showError = (el, msg) => {
    el.textContent = msg || '';
    el.hidden = !msg;
  };
  let statusTimer = 0;
  const status = (msg) => {
    const el = $('global-status');
    el.textContent = msg;
    el.classList.toggle('on', !!msg);
    clearTimeout(statusTimer);
    if (msg) statusTimer = setTimeout(() => { el.textContent = ''; el.classList.remove('on'); }, 6000);
  };

  // ---------------------------------------------------------------------------- auth + API
  const loadAuth = () => {
    try {
      const v = JSON.parse(sessionStorage.getItem(KEY) || 'null');
      return v && typeof v.token === 'string' && v.token && typeof v.name === 'string' ? v : null;
    } catch (e) {
      return null;
    }
  };
  let auth = loadAuth();
  let lastName = auth ? auth.name : '';

  class ApiError extends Error {
    constructor(status, detail, errors) {
      super(detail);
      this.status = status;
      this.detail = detail;
      this.errors = errors;
    }
  }
  const detailOf = (d) => {
    if (!d) return '';
    if (typeof d.detail === 'string') return d.detail;
    if (Array.isArray(d.detail)) return d.detail.map((x) => str(x && x.msg)).filter(Boolean).join('; ');
    return '';
  };
  const errorsOf = (d) => {
    if (!d) return null;
    if (Array.isArray(d.errors)) return d.errors;
    if (Array.isArray(d.detail) && d.detail.every(isObj)) return d.detail;
    return null;
  };
  const api = async (method, path, body, opts = {}) => {
    if (!auth) throw new ApiError(401, 'Token ungültig', null);
    const headers = { Authorization: `Bearer ${auth.token}`, Accept: opts.raw ? '*/*' : 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), opts.timeout || 60000);
    let res;
    try {
      res = await fetch(API + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store', credentials: 'same-origin', signal: ac.signal,
      });
    } catch (e) {
      clearTimeout(timer);
      throw new ApiError(0, ac.signal.aborted ? 'Zeitüberschreitung: keine Antwort vom Server.' : 'Server nicht erreichbar.', null);
    }
    clearTimeout(timer);
    if (res.status === 401) {
      toLogin('Token ungültig');
      throw new ApiError(401, 'Token ungültig', null);
    }
    if (!res.ok) {
      let d = null;
      try { d = await res.json(); } catch (e) { /* no JSON body */ }
      throw new ApiError(res.status, detailOf(d) || `Fehler ${res.status}`, errorsOf(d));
    }
    if (opts.raw) return res;
    try {
      return await res.json();
    } catch (e) {
      throw new ApiError(res.status, 'Antwort des Servers ist kein JSON.', null);
    }
  };
  const msgOf = (e) => (e instanceof ApiError ? (e.status ? `${e.detail} (${e.status})` : e.detail) : str(e && e.message) || 'Unbekannter Fehler');

  const filenameOf = (cd, fallback) => {
    const star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(cd || '');
    if (star) { try { return decodeURIComponent(star[1]); } catch (e) { /* fall through */ } }
    const plain = /filename\s*=\s*"?([^";]+)"?/i.exec(cd || '');
    const name = (plain && plain[1]) || fallback;
    return name.replace(/[\\/:*?"<>|\u0000-\u001f]/g, '_');
  };
  const download = async (path, fallback) => {
    const res = await api('GET', path, undefined, { raw: true });
    const blob = await res.blob();
    const name = filenameOf(res.headers.get('Content-Disposition'), fallback);
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 30000);
    return { name, blob };
  };

  // ---------------------------------------------------------------------------- login
  const toLogin = (msg) => {
    if (auth) lastName = auth.name;
    auth = null;
    try { sessionStorage.removeItem(KEY); } catch (e) { /* ignore */ }
    $('shell').hidden = true;
    $('login').hidden = false;
    $('login-name').value = lastName || '';
    $('login-token').value = '';
    showError($('login-error'), msg || '');
    $('login-token').focus();
  };
  const enterApp = () => {
    $('login').hidden = true;
    $('shell').hidden = false;
    $('who-name').textContent = auth.name;
    route();
  };
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = $('login-token').value.trim();
    const name = $('login-name').value.trim();
    if (!token) { showError($('login-error'), 'Bitte das Staff-Token eingeben.'); $('login-token').focus(); return; }
    if (!name) { showError($('login-error'), 'Bitte Ihren Namen eingeben.'); $('login-name').focus(); return; }
    auth = { token, name };
    const btn = $('login-submit');
    btn.disabled = true;
    showError($('login-error'), '');
    try {
      const d = await api('GET', '/documents');
      state.documents = arr(d && d.documents);
      try { sessionStorage.setItem(KEY, JSON.stringify(auth)); } catch (err) { /* memory only */ }
      enterApp();
    } catch (err) {
      if (err.status !== 401) {
        auth = null;
        showError($('login-error'), `Anmeldung nicht möglich: ${msgOf(err)}`);
      }
    } finally {
      btn.disabled = false;
    }
  });
  $('logout').addEventListener('click', () => {
    resetAll();
    toLogin('');
    $('login-name').value = '';
    lastName = '';
  });

  // ---------------------------------------------------------------------------- state
  const state = {
    documents: null,
    answers: null, // [{...entry}]
    refused: {},
    sid: null, // conversation with curated answers (or the only one)
    sidAlt: null, // the curated:false side of a comparison
    turns: 0,
    last: null, // {message, sent, result}
    busy: false,
    feedback: [], // given in this tab
    evalSets: null,
    evalBusy: false,
  };
  const resetAll = () => {
    state.answers = null;
    state.refused = {};
    state.sid = null;
    state.sidAlt = null;
    state.turns = 0;
    state.last = null;
    state.feedback = [];
    state.evalSets = null;
    $('turns').replaceChildren();
    $('eval-result').replaceChildren();
    $('ed-list').replaceChildren();
    $('ed-main').replaceChildren(h('p', { class: 'empty', text: 'Links einen Eintrag wählen oder „Neu“ anlegen.' }));
    editor.current = null;
    editor.dirty = false;
    $('conv-list').replaceChildren();
    $('conv-detail').replaceChildren(h('p', { class: 'empty', text: 'Links ein Gespräch wählen.' }));
    $('fb-mine').replaceChildren(h('p', { class: 'empty', text: 'Noch kein Feedback in diesem Tab.' }));
    $('fb-table').replaceChildren();
    updateSession();
  };

  // ---------------------------------------------------------------------------- navigation
  const VIEWS = ['fragen', 'antworten', 'auswertung', 'gespraeche', 'feedback'];
  let view = null;
  const route = () => {
    if (!auth) return;
    const want = (location.hash || '').replace(/^#/, '');
    const v = VIEWS.includes(want) ? want : 'fragen';
    if (v !== view && view === 'antworten' && editor.dirty) {
      // keep the edits: the form stays as it is, only the view changes
      status('Ungespeicherte Änderungen im Editor bleiben erhalten.');
    }
    view = v;
    for (const name of VIEWS) $(`view-${name}`).hidden = name !== v;
    for (const a of document.querySelectorAll('.nav a')) {
      if (a.dataset.view === v) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = `${$(`h-${v}`).textContent} · IT-Berater Staff-Playground`;
    if (v === 'antworten') openEditor();
    if (v === 'auswertung') openEval();
    if (v === 'gespraeche' && !$('conv-list').children.length) loadConversations();
  };
  const go = (v) => {
    if (location.hash === `#${v}`) route();
    else location.hash = v;
  };
  window.addEventListener('hashchange', route);
  document.addEventListener('keydown', (e) => {
    // Alt+Shift+1…5 (Alt+digit alone switches browser tabs on Linux)
    if (!auth || !e.altKey || !e.shiftKey || e.ctrlKey || e.metaKey) return;
    const i = ['Digit1', 'Digit2', 'Digit3', 'Digit4', 'Digit5'].indexOf(e.code);
    if (i < 0) return;
    e.preventDefault();
    go(VIEWS[i]);
    const hd = $(`h-${VIEWS[i]}`);
    hd.tabIndex = -1;
    hd.focus();
  });
  window.addEventListener('beforeunload', (e) => {
    if (editor.dirty) { e.preventDefault(); e.returnValue = ''; }
  });

  // ---------------------------------------------------------------------------- Markdown subset
  /* @include markdown.js */
  const { markdown, citationCards, highlight } = markdownRenderer(h, 'md-tbl');

  // An answer with [n] chips that open the quote inside its passage.
  const answerView = (md, citations) => {
    const wrap = h('div', { class: 'answer' });
    const body = h('div', { class: 'md' });
    const byN = new Map();
    for (const c of arr(citations)) if (isObj(c) && Number.isInteger(c.n)) byN.set(c.n, c);
    const base = nextId('a');
    const makeCard = (c, id, onClose) => {
      let quotes = arr(c.quotes).map(str).filter(Boolean);
      if (!quotes.length && str(c.quote)) quotes = str(c.quote).split(' … ');
      const passage = h('p', { class: 'passage' });
      const text = str(c.text);
      let found = 0;
      if (text) found = highlight(text, quotes, passage);
      else passage.append(h('mark', { text: quotes.join(' … ') }));
      const head = h('div', { class: 'card-h' },
        h('span', { class: 'card-src' }, h('b', { text: `[${c.n}] ${str(c.title) || str(c.doc_id)}` }), str(c.heading) ? ` › ${str(c.heading)}` : ''),
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Quelle schließen', onclick: onClose }, icon(I.x)));
      const meta = h('p', { class: 'card-meta' }, h('code', { text: str(c.doc_id) }), str(c.passage_id) ? h('code', { text: str(c.passage_id) }) : null,
        text && quotes.length && found < quotes.length ? h('span', { class: 'warn', text: `${quotes.length - found} von ${quotes.length} Zitat(en) nicht in der Passage gefunden` }) : null);
      return h('div', { class: 'card', id, role: 'group', 'aria-label': `Quelle ${c.n}` }, head, passage, meta);
    };
    const openCard = citationCards(wrap, base, makeCard);
    const toggle = (c) => {
      const card = openCard(c);
      if (!card) return;
      const passage = card.querySelector('.passage');
      const mk = passage.querySelector('mark');
      if (mk && passage.scrollHeight > passage.clientHeight + 1) {
        passage.tabIndex = 0;
        passage.scrollTop = Math.max(0, mk.offsetTop - passage.offsetTop - 24);
      }
    };
    const cite = (n) => {
      const c = byN.get(n);
      if (!c) return h('span', { class: 'cite dead', title: 'Keine Quelle mit dieser Nummer', text: `[${n}]` });
      return h('button', {
        type: 'button', class: 'cite', 'data-n': n, 'aria-expanded': 'false',
        'aria-label': `Quelle ${n}: ${str(c.title)}`, title: str(c.title), text: String(n), onclick: () => toggle(c),
      });
    };
    markdown(md, body, cite);
    wrap.append(body);
    return wrap;
  };
  // For stored conversations (no citation data): markers stay visible as plain chips.
  const plainAnswer = (md) => {
    const body = h('div', { class: 'md' });
    markdown(md, body, (n) => h('span', { class: 'cite dead', text: String(n) }));
    return body;
  };

  // ---------------------------------------------------------------------------- labels
  const MODULES = {
    curated: 'Kuratierte Antwort', passage: 'Textstelle', recommendation: 'Empfehlung', costs: 'Kosten',
    followup: 'Nachfrage', clarification: 'Rückfrage', uncovered: 'Nicht abgedeckt', policy: 'Richtlinie',
    smalltalk: 'Smalltalk', decline: 'Abgelehnt',
  };
  const OUTCOMES = { answer: 'Antwort', uncovered: 'nicht abgedeckt', policy: 'Richtlinie', decline: 'Ablehnung', clarify: 'Rückfrage', smalltalk: 'Smalltalk' };
  const CONF = { low: 'niedrig', medium: 'mittel', high: 'hoch' };
  const PROFILE = {
    employees: 'Mitarbeiter', pcs: 'PCs', it_staff: 'IT-Mitarbeiter', key_user: 'Key-User',
    production_systems: 'Produktionssysteme', confidential_areas: 'Vertrauliche Bereiche', needs_24x7: '24/7 nötig',
    regulated: 'Reguliert', growth: 'Wachstum', complex_it: 'Komplexe IT', locations: 'Standorte',
    remote_work: 'Homeoffice / mobil', internal_cost_per_it_staff_eur: 'Interne Kosten je IT-Kraft (€/Jahr)',
    external_price_per_user_month_eur: 'Externer Preis je Nutzer (€/Monat)',
  };
  const TIMINGS = { understand: 'Verstehen', embed: 'Einbetten', route: 'Routing', answer: 'Antwort', total: 'Gesamt' };
  const valueText = (v) => {
    if (v === true) return 'ja';
    if (v === false) return 'nein';
    if (v == null) return '–';
    if (typeof v === 'number') return Number.isInteger(v) ? nf(0).format(v) : nf(2).format(v);
    if (typeof v === 'string') return v;
    return JSON.stringify(v);
  };
  const badge = (text, cls) => h('span', { class: `badge${cls ? ' ' + cls : ''}`, text });
  const section = (title, open, ...kids) => h('details', { class: 'sec', open: open || null }, h('summary', null, title), ...kids);
  const kv = (pairs) => h('dl', { class: 'kv' }, pairs.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
  const table = (head, rows, cls) => h('div', { class: 'tbl' }, h('table', { class: cls || null },
    h('thead', null, h('tr', null, head.map((c) => (isObj(c) && c.nodeType ? c : h('th', { scope: 'col', text: c }))))),
    h('tbody', null, rows)));
  const numCell = (v, d = 3) => h('td', { class: 'num', text: fmt(v, d) });
  const entryLink = (id) => {
    const s = str(id);
    if (!s) return h('span', { text: '–' });
    return h('button', {
      type: 'button', class: 'linkish mono', title: 'Im Editor öffnen', text: s,
      onclick: () => { go('antworten'); openEditor(s); },
    });
  };

  // ---------------------------------------------------------------------------- trace views
  const routerView = (r) => {
    if (!isObj(r)) return null;
    const ranked = arr(r.ranked).filter(Array.isArray).slice(0, 3);
    const list = h('ul', { class: 'bars' }, ranked.map(([label, p]) => h('li', { class: str(label) === str(r.label) ? 'is-top' : null },
      h('span', { class: 'bl mono', text: str(label) }), bar(p), h('span', { class: 'bv num', text: fmt(p, 3) }))));
    return section('Router', true,
      h('p', { class: 'line' }, 'Gewählt: ', h('b', { class: 'mono', text: str(r.label) }), ` · Konfidenz ${fmt(r.confidence, 3)}`,
        r.override ? h('span', { class: 'over' }, ' · übersteuert: ', h('span', { text: str(r.override) })) : null),
      list);
  };
  const MATCH_HEAD = ['Eintrag', 'lexikal.', 'dense', 'Wahrsch.', 'fused', 'akzeptiert'];
  const matchRow = (m, chosen) => h('tr', { class: chosen ? 'hl' : null },
    h('td', null, entryLink(m.entry)), numCell(m.lexical), numCell(m.dense), numCell(m.probability), numCell(m.fused, 4),
    h('td', { class: 'c' }, m.accepted ? h('span', { class: 'yes', text: 'ja' }) : h('span', { class: 'no', text: 'nein' })));
  const curatedView = (t) => {
    const match = isObj(t.match) ? t.match : null;
    const cands = arr(t.candidates).filter(isObj);
    const entry = str(t.entry) || (match ? str(match.entry) : '');
    if (!match && !cands.length && !entry) return null;
    const kids = [];
    if (entry) kids.push(h('p', { class: 'line' }, 'Eintrag: ', entryLink(entry)));
    if (match) kids.push(h('p', { class: 'cap', text: 'Treffer' }), table(MATCH_HEAD, [matchRow(match, true)], 'dense'));
    if (cands.length) {
      kids.push(h('p', { class: 'cap', text: `Kandidaten (${cands.length})` }),
        table(MATCH_HEAD, cands.map((c) => matchRow(c, match && c.entry === match.entry)), 'dense'));
    }
    return section('Kuratierte Antwort', true, ...kids);
  };
  const passagesView = (list) => {
    const ps = arr(list).filter(isObj);
    if (!ps.length) return section('Passagen', false, h('p', { class: 'empty', text: 'Keine Passagen abgerufen.' }));
    const rows = ps.map((p, i) => h('tr', { class: p.cited ? 'hl' : null },
      h('td', { class: 'num', text: String(i + 1) }),
      h('td', null, h('span', { class: 'mono', text: str(p.id) }), h('br'), h('span', { class: 'sub', text: str(p.heading) })),
      numCell(p.dense), numCell(p.lexical), numCell(p.fused, 4),
      h('td', { class: 'c' }, p.cited ? h('span', { class: 'cited', title: 'zitiert' }, icon(I.check), h('span', { class: 'sr', text: 'zitiert' })) : '')));
    const cited = ps.filter((p) => p.cited).length;
    return section(`Passagen (${ps.length}, ${cited} zitiert)`, true,
      table(['#', 'Passage / Abschnitt', 'dense', 'lexikal.', 'fused', 'zitiert'], rows, 'dense'));
  };
  const genericTable = (items) => {
    const objs = items.filter(isObj);
    if (!objs.length) return h('pre', { class: 'json', text: JSON.stringify(items, null, 1) });
    const keys = [];
    for (const o of objs) for (const k of Object.keys(o)) if (!keys.includes(k)) keys.push(k);
    return table(keys, objs.map((o) => h('tr', null, keys.map((k) => {
      const v = o[k];
      if (typeof v === 'number') return h('td', { class: 'num', text: Number.isInteger(v) ? String(v) : fmt(v, 3) });
      if (typeof v === 'boolean') return h('td', { class: 'c', text: v ? 'ja' : 'nein' });
      return h('td', { class: typeof v === 'string' && /^[\w:.-]+$/.test(v) ? 'mono' : null, text: isObj(v) || Array.isArray(v) ? JSON.stringify(v) : str(v) });
    }))), 'dense');
  };
  const scoresView = (t) => {
    const s = arr(t.scores);
    if (!s.length) return null;
    const kids = [];
    if (t.lead != null) kids.push(h('p', { class: 'line' }, 'Lead-Satz: ', h('code', { text: str(t.lead) })));
    kids.push(genericTable(s));
    return section(`Satz-Scores (${s.length})`, false, ...kids);
  };
  const profileView = (resp) => {
    const p = isObj(resp.profile) ? resp.profile : {};
    const keys = Object.keys(p).filter((k) => p[k] != null);
    const kids = [];
    if (keys.length) {
      kids.push(kv(keys.map((k) => [
        h('span', null, PROFILE[k] || k, PROFILE[k] ? h('code', { class: 'key', text: k }) : null),
        h('span', { class: typeof p[k] === 'boolean' ? (p[k] ? 'yes' : 'no') : null, text: valueText(p[k]) }),
      ])));
    } else kids.push(h('p', { class: 'empty', text: 'Noch keine Angaben verstanden.' }));
    const asked = arr(resp.asked).map(str).filter(Boolean);
    if (asked.length) kids.push(h('p', { class: 'line' }, 'Nachgefragt: ', asked.map((a, i) => [i ? ', ' : '', h('code', { text: a })])));
    return section(`Profil (${keys.length})`, true, ...kids);
  };
  const LABEL_CLS = { intern: 'l-in', hybrid: 'l-hy', extern: 'l-ex' };
  const scoreBar = (v) => {
    const s = Math.max(-1, Math.min(1, num(v) || 0));
    const fill = h('i', { class: s < 0 ? 'neg' : 'pos' });
    fill.style.left = `${(50 + Math.min(0, s) * 50).toFixed(1)}%`;
    fill.style.width = `${(Math.abs(s) * 50).toFixed(1)}%`;
    return h('span', { class: 'dbar', 'aria-hidden': 'true' }, fill);
  };
  // The breakdown per task: table (task, label, score bar, confidence, expandable reasons) and
  // the missing questions. With `before` (a Map task → {label, score} of the answer's
  // breakdown) a label or score that differs is marked, as after "Neu berechnen".
  const recBody = (rec, before) => {
    const tasks = arr(rec.tasks).filter(isObj);
    const rows = [];
    for (const t of tasks) {
      const reasons = arr(t.reasons).filter(isObj);
      const rid = nextId('rs');
      const detail = h('tr', { class: 'reasons', id: rid, hidden: true },
        h('td', { colspan: '5' }, reasons.length ? h('ol', { class: 'reasons-l', 'aria-label': `Gründe für ${str(t.title) || str(t.task)}` }, reasons.map((r) => {
          const c = isObj(r.citation) ? r.citation : {};
          const contrib = num(r.contribution);
          return h('li', null,
            h('p', { class: 'rs-h' },
              h('span', { class: `num contrib ${contrib > 0 ? 'pos' : contrib < 0 ? 'neg' : ''}`, title: 'Beitrag zum Score', text: fmtSigned(contrib, 2) }),
              h('b', { text: str(r.factor_title) || str(r.factor) }),
              h('code', { class: 'sub', text: str(r.rule) })),
            h('p', { text: str(r.text) }),
            str(c.quote) ? h('blockquote', null, h('span', { text: `„${str(c.quote)}“` }), h('cite', { text: ` — ${str(c.title) || str(c.doc_id)}` })) : null);
        })) : h('p', { class: 'empty', text: 'Keine Gründe.' })));
      const btn = h('button', {
        type: 'button', class: 'btn tiny', 'aria-expanded': 'false', 'aria-controls': rid,
        text: `Gründe (${reasons.length})`,
        onclick: () => {
          const open = detail.hidden;
          detail.hidden = !open;
          btn.setAttribute('aria-expanded', String(open));
        },
      });
      const was = before ? before.get(str(t.task)) : null;
      const isNew = !!before && !was;
      const labelChanged = !!was && was.label !== str(t.label);
      const scoreChanged = !!was && num(was.score) != null && num(t.score) != null && Math.abs(was.score - t.score) >= 0.005;
      rows.push(h('tr', { class: labelChanged || isNew ? 'chg' : null, 'data-task': str(t.task) },
        h('td', null, h('span', { text: str(t.title) || str(t.task) }), isNew ? [' ', badge('neu', 'staff')] : null,
          h('br'), h('code', { class: 'sub', text: str(t.task) })),
        h('td', null, badge(str(t.label), LABEL_CLS[t.label]), ' ', h('span', { class: 'sub', text: str(t.display) }),
          labelChanged ? h('span', { class: 'was' }, 'vorher ', badge(str(was.label), LABEL_CLS[was.label])) : null),
        h('td', { class: 'num nowrap' }, scoreBar(t.score), ' ', h('span', { text: fmtSigned(t.score, 2) }),
          scoreChanged ? h('span', { class: 'was sub', text: `vorher ${fmtSigned(was.score, 2)}` }) : null),
        h('td', { text: CONF[t.confidence] || str(t.confidence) }),
        h('td', null, btn)), detail);
    }
    const kids = [table(['Aufgabe', 'Label', 'Score', 'Konfidenz', h('th', { scope: 'col' }, h('span', { class: 'sr', text: 'Gründe' }))], rows, 'dense rec'),
      h('p', { class: 'fhint', text: 'Score: −1 = ganz intern, 0 = hybrid, +1 = ganz extern; Gründe nach Gewicht sortiert.' })];
    if (before) {
      const now = new Set(tasks.map((t) => str(t.task)));
      const gone = Array.from(before.entries()).filter(([k]) => !now.has(k));
      if (gone.length) kids.push(h('p', { class: 'line' }, 'Entfällt gegenüber der Antwort: ', gone.map(([k, v], i) => [i ? ', ' : '', h('span', { text: v.title || k })])));
    }
    const missing = arr(rec.missing);
    if (missing.length) {
      kids.push(h('p', { class: 'cap', text: 'Fehlende Angaben' }), h('ul', { class: 'missing' }, missing.map((m) => {
        if (!isObj(m)) return h('li', { text: str(m) });
        return h('li', null, h('span', { text: str(m.question_de) || str(m.field) }), ' ', h('code', { text: str(m.field) }),
          arr(m.tasks).length ? h('span', { class: 'sub', text: ` → ${arr(m.tasks).map(str).join(', ')}` }) : null);
      })));
    }
    return { kids, count: tasks.length };
  };
  const recommendationView = (rec, fromTrace) => {
    if (!isObj(rec)) return null;
    const { kids, count } = recBody(rec, null);
    if (fromTrace) {
      kids.unshift(h('p', { class: 'fhint', text: 'Keine Empfehlung in dieser Antwort – so bewertet das bisher verstandene Profil die Aufgaben (trace.scoring).' }));
    }
    return section(`Bewertung je Aufgabe (${count})${fromTrace ? ' – aus dem Profil' : ''}`, !fromTrace, ...kids);
  };

  // cost figures of a recomputed recommendation (document figures and the user's own)
  const COST_SIDES = [['internal', 'intern'], ['external', 'extern'], ['context', 'Kontext']];
  const costValue = (f) => {
    const lo = num(f.low);
    const hi = num(f.high);
    const n = (v) => (Number.isInteger(v) ? nf(0).format(v) : nf(2).format(v));
    let v = '';
    if (lo != null && hi != null) v = lo === hi ? n(lo) : `${n(lo)}–${n(hi)}`;
    else if (lo != null) v = `ab ${n(lo)}`;
    else if (hi != null) v = `bis ${n(hi)}`;
    else if (str(f.wording)) return `„${str(f.wording)}“`;
    else return '–';
    return `${v} ${str(f.unit)}`.trim();
  };
  const costsView = (costs) => {
    if (!isObj(costs)) return null;
    const rows = [];
    for (const [side, label] of COST_SIDES) {
      for (const f of arr(costs[side]).filter(isObj)) {
        rows.push(h('tr', { class: f.source === 'user' ? 'hl' : null },
          h('td', { text: label }),
          h('td', null, h('span', { text: str(f.label) || str(f.id) }), str(f.basis) ? [h('br'), h('span', { class: 'sub', text: str(f.basis) })] : null),
          h('td', { text: costValue(f) }),
          h('td', { text: f.source === 'user' ? 'Ihre Angabe' : 'Dokument' }),
          h('td', { class: 'c', text: f.applies === true ? 'ja' : f.applies === false ? 'nein' : '–' })));
      }
    }
    const notes = arr(costs.notes).map(str).filter(Boolean);
    if (!rows.length && !notes.length) return null;
    return section(`Kosten (${rows.length} Posten)`, false,
      rows.length ? table(['Seite', 'Posten', 'Wert', 'Quelle', 'gilt'], rows, 'dense') : null,
      notes.length ? h('ul', { class: 'missing notes' }, notes.map((n) => h('li', { text: n }))) : null);
  };

  // ---------------------------------------------------------------------------- profile editor
  // "Profil bearbeiten": the answer's profile in a form; "Neu berechnen" posts it to
  // /api/recommend (no token) and shows the breakdown, marked against the answer's.
  const PROFILE_NUMBERS = [
    ['employees', 'Mitarbeitende', 'int'], ['pcs', 'PCs', 'int'],
    ['it_staff', 'IT-Mitarbeiter (Vollzeitstellen)', 'num'], ['locations', 'Standorte', 'int'],
  ];
  const PROFILE_FLAGS = [
    ['key_user', 'Key-User'], ['production_systems', 'Produktionssysteme'], ['confidential_areas', 'Vertrauliche Bereiche'],
    ['needs_24x7', '24/7-Bedarf'], ['regulated', 'Regulierte/sensible Daten'], ['growth', 'Wachstum geplant'],
    ['complex_it', 'Komplexe IT'], ['remote_work', 'Mobiles Arbeiten'],
  ];
  const PROFILE_COSTS = [
    ['internal_cost_per_it_staff_eur', 'Jahreskosten je IT-Stelle (€)', 'num'],
    ['external_price_per_user_month_eur', 'Angebot pro User/Monat (€)', 'num'],
  ];
  const PROFILE_FORM = [...PROFILE_NUMBERS, ...PROFILE_FLAGS.map(([k, l]) => [k, l, 'bool']), ...PROFILE_COSTS];
  // German input: "1,5", "85.000", "85 000"; empty = unknown
  const parseNumber = (raw, int) => {
    let s = str(raw).replace(/[\s\u00a0\u202f']/g, '');
    if (!s) return { empty: true };
    if (/^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$/.test(s)) s = s.replace(/\./g, '').replace(',', '.');
    else s = s.replace(',', '.');
    const bad = { error: int ? 'Bitte eine ganze Zahl eingeben (oder leer lassen).' : 'Bitte eine Zahl eingeben (oder leer lassen).' };
    if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(s)) return bad;
    const v = Number(s);
    if (!Number.isFinite(v) || (int && !Number.isInteger(v))) return bad;
    if (int && !Number.isSafeInteger(v)) return { error: 'Die Zahl ist zu groß.' };
    return { value: v === 0 ? 0 : v };
  };
  const numberText = (v) => (num(v) == null ? '' : String(v).replace('.', ','));
  const flagText = (v) => (v === true ? 'true' : v === false ? 'false' : '');
  const recommendApi = async (profile) => {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 30000);
    let res;
    try {
      res = await fetch('/api/recommend', {
        method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(profile), cache: 'no-store', credentials: 'same-origin', signal: ac.signal,
      });
    } catch (e) {
      throw new ApiError(0, ac.signal.aborted ? 'Zeitüberschreitung: keine Antwort vom Server.' : 'Server nicht erreichbar.', null);
    } finally {
      clearTimeout(timer);
    }
    let d = null;
    try { d = await res.json(); } catch (e) { /* no JSON body */ }
    if (!res.ok) throw new ApiError(res.status, detailOf(d) || `Fehler ${res.status}`, errorsOf(d));
    if (!isObj(d)) throw new ApiError(res.status, 'Antwort des Servers ist kein JSON.', null);
    return d;
  };
  const profileEditor = (resp, baseRec) => {
    const given = isObj(resp.profile) ? resp.profile : {};
    const before = new Map();
    for (const t of arr(isObj(baseRec) ? baseRec.tasks : null).filter(isObj)) {
      before.set(str(t.task), { label: str(t.label), score: num(t.score), title: str(t.title) });
    }
    const fields = new Map(); // key → {wrap, control, err, kind, initial}
    const initialOf = (key, kind) => (kind === 'bool' ? flagText(given[key]) : numberText(given[key]));
    const control = (key, label, kind) => {
      const id = nextId('pf');
      const eid = nextId('pferr');
      const initial = initialOf(key, kind);
      const c = kind === 'bool'
        ? h('select', { id, name: key },
          h('option', { value: '', text: 'unbekannt' }), h('option', { value: 'true', text: 'ja' }), h('option', { value: 'false', text: 'nein' }))
        : h('input', {
          id, name: key, type: 'text', inputmode: kind === 'int' ? 'numeric' : 'decimal', autocomplete: 'off',
          spellcheck: 'false', placeholder: 'unbekannt', value: initial,
        });
      if (kind === 'bool') c.value = initial;
      const err = h('p', { class: 'ferr', id: eid, hidden: true });
      const wrap = h('div', { class: 'field', 'data-field': key }, h('label', { for: id, text: label, title: key }), c, err);
      fields.set(key, { wrap, control: c, err, kind, label, initial });
      return wrap;
    };
    const group = (legend, list, kind, cls) => h('fieldset', { class: `fs pe-fs ${cls}` }, h('legend', { text: legend }),
      h('div', { class: 'pe-grid' }, list.map(([k, l, kd]) => control(k, l, kind || kd))));
    const submit = h('button', { type: 'submit', class: 'btn small primary', text: 'Neu berechnen' });
    const reset = h('button', { type: 'button', class: 'btn small', text: 'Zurücksetzen', title: 'Werte aus der Antwort wiederherstellen' });
    const clear = h('button', { type: 'button', class: 'btn small', text: 'Alles leeren' });
    const msg = h('span', { class: 'fb-msg', role: 'status' });
    const alertBox = h('div', { class: 'form-errors', role: 'alert', hidden: true });
    const out = h('div', { class: 'pe-out', 'aria-live': 'polite' });
    const form = h('form', { class: 'pe-form', novalidate: true, 'aria-label': 'Profil bearbeiten' },
      group('Zahlen', PROFILE_NUMBERS, null, 'pe-num'),
      group('Ja / Nein', PROFILE_FLAGS, 'bool', 'pe-flags'),
      group('Eigene Kostenangaben', PROFILE_COSTS, null, 'pe-num'),
      h('p', { class: 'fhint', text: 'Leer bzw. „unbekannt“ = nicht angegeben. Dezimalkomma erlaubt. Geänderte Felder sind markiert.' }),
      alertBox,
      h('div', { class: 'pe-bar' }, submit, reset, clear, msg));
    const given_n = PROFILE_FORM.filter(([k]) => given[k] != null).length;
    const sec = section(`Profil bearbeiten (${given_n} ${given_n === 1 ? 'Angabe' : 'Angaben'} aus der Antwort)`, false, form, out);
    sec.classList.add('pe');

    const clearErrors = () => {
      for (const f of fields.values()) {
        f.err.hidden = true;
        f.err.textContent = '';
        f.wrap.classList.remove('invalid');
        f.control.removeAttribute('aria-invalid');
        f.control.removeAttribute('aria-describedby');
      }
      alertBox.hidden = true;
      alertBox.replaceChildren();
    };
    const markChanged = () => {
      for (const f of fields.values()) f.wrap.classList.toggle('changed', f.control.value.trim() !== f.initial);
    };
    const showErrors = (list, detail, heading) => {
      // list: [{key, msg}] with key null when no field matches
      let first = null;
      const unplaced = [];
      for (const { key, msg: m } of list) {
        const f = key ? fields.get(key) : null;
        if (!f) { unplaced.push(key ? `${key}: ${m}` : m); continue; }
        f.err.textContent = f.err.textContent ? `${f.err.textContent} · ${m}` : m;
        f.err.hidden = false;
        f.wrap.classList.add('invalid');
        f.control.setAttribute('aria-invalid', 'true');
        f.control.setAttribute('aria-describedby', f.err.id);
        if (!first) first = f;
      }
      alertBox.hidden = false;
      fill(alertBox, h('p', null, h('b', { text: heading }),
        first ? [': ', h('button', { type: 'button', class: 'linkish', text: first.label, onclick: () => first.control.focus() }), ' prüfen'] : null,
        !first && detail ? [': ', h('span', { text: detail })] : null),
      unplaced.length ? h('ul', null, unplaced.map((u) => h('li', { text: u }))) : null);
      if (first) first.control.focus();
      else { alertBox.tabIndex = -1; alertBox.focus(); }
    };
    const collect = () => {
      const profile = {};
      const errors = [];
      for (const [key, f] of fields) {
        const raw = f.control.value.trim();
        if (f.kind === 'bool') {
          if (raw === 'true') profile[key] = true;
          else if (raw === 'false') profile[key] = false;
          continue;
        }
        const p = parseNumber(raw, f.kind === 'int');
        if (p.error) errors.push({ key, msg: p.error });
        else if (!p.empty) profile[key] = p.value;
      }
      return { profile, errors };
    };
    let seq = 0;
    let shown = null; // the profile JSON the result was computed for
    const paintStale = () => {
      if (!shown) return;
      const { profile } = collect();
      out.classList.toggle('stale', JSON.stringify(profile) !== shown);
    };
    form.addEventListener('input', () => { markChanged(); paintStale(); });
    form.addEventListener('change', () => { markChanged(); paintStale(); });
    reset.addEventListener('click', () => {
      for (const f of fields.values()) f.control.value = f.initial;
      clearErrors();
      markChanged();
      paintStale();
      msg.className = 'fb-msg';
      msg.textContent = 'Werte aus der Antwort wiederhergestellt.';
    });
    clear.addEventListener('click', () => {
      for (const f of fields.values()) f.control.value = '';
      clearErrors();
      markChanged();
      paintStale();
      msg.className = 'fb-msg';
      msg.textContent = 'Alle Angaben geleert.';
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors();
      const { profile, errors } = collect();
      if (errors.length) {
        msg.className = 'fb-msg bad';
        msg.textContent = '';
        showErrors(errors, null, 'Nicht berechnet');
        return;
      }
      const my = ++seq;
      submit.disabled = true;
      submit.classList.add('loading');
      msg.className = 'fb-msg';
      msg.textContent = 'Wird berechnet …';
      try {
        const d = await recommendApi(profile);
        if (my !== seq) return;
        shown = JSON.stringify(profile);
        const { kids } = recBody(d, before);
        const changed = arr(d.tasks).filter(isObj).filter((t) => {
          const w = before.get(str(t.task));
          return !w || w.label !== str(t.label);
        }).length;
        const sent = Object.keys(profile).length;
        out.classList.remove('stale');
        fill(out,
          h('div', { class: 'pe-head' },
            h('b', { text: 'Neu berechnet' }),
            h('span', { class: 'sub', text: ` · ${TF.format(new Date())} · ${sent} ${sent === 1 ? 'Angabe' : 'Angaben'}${str(d.rules_version) ? ` · Regeln ${str(d.rules_version)}` : ''}` }),
            h('span', { class: 'grow' }),
            before.size ? badge(changed ? `${changed} ${changed === 1 ? 'Label' : 'Labels'} geändert` : 'Labels wie in der Antwort', changed ? 'kind' : 'soft') : null),
          h('p', { class: 'pe-stale', text: 'Die Angaben wurden seit dieser Berechnung geändert – „Neu berechnen“ aktualisiert.' }),
          kids,
          costsView(d.costs));
        msg.className = 'fb-msg ok';
        msg.textContent = before.size ? (changed ? `Neu berechnet: ${changed} ${changed === 1 ? 'Label' : 'Labels'} anders als in der Antwort.` : 'Neu berechnet: alle Labels wie in der Antwort.') : 'Neu berechnet.';
      } catch (err) {
        if (my !== seq) return;
        msg.className = 'fb-msg bad';
        msg.textContent = '';
        if (err.status === 422 && err.errors && err.errors.length) {
          const list = err.errors.filter(isObj).map((x) => {
            const loc = arr(x.loc).map(str).filter((p) => p !== 'body');
            const key = loc.length ? loc[loc.length - 1] : null;
            // pydantic prefixes a validator's own message with "Value error, "
            const m = str(x.msg).replace(/^Value error,\s*/, '') || 'Ungültig';
            return { key: key && fields.has(key) ? key : null, msg: m, raw: loc.join('.') };
          }).map((x) => (x.key ? x : { key: null, msg: x.raw ? `${x.raw}: ${x.msg}` : x.msg }));
          showErrors(list, err.detail, 'Vom Server abgelehnt');
        } else {
          showErrors([], null, `Nicht berechnet: ${msgOf(err)}`);
        }
      } finally {
        if (my === seq) {
          submit.disabled = false;
          submit.classList.remove('loading');
        }
      }
    });
    return sec;
  };
  const timingsView = (tm) => {
    if (!isObj(tm)) return null;
    const keys = ['understand', 'embed', 'route', 'answer', 'total'].filter((k) => k in tm)
      .concat(Object.keys(tm).filter((k) => !(k in TIMINGS)));
    const total = num(tm.total) || Math.max(1, ...keys.map((k) => num(tm[k]) || 0));
    return section(`Zeiten (${fmt(tm.total, 0)} ms)`, false, h('ul', { class: 'bars' }, keys.map((k) => h('li', { class: k === 'total' ? 'is-top' : null },
      h('span', { class: 'bl', text: TIMINGS[k] || k }), bar((num(tm[k]) || 0) / total, 'tm'), h('span', { class: 'bv num', text: `${fmt(tm[k], 1)} ms` })))));
  };
  const HANDLED = new Set(['module', 'why', 'route', 'match', 'entry', 'candidates', 'passages', 'scores', 'lead', 'timings_ms', 'scoring']);
  const extraView = (t) => {
    const keys = Object.keys(t).filter((k) => !HANDLED.has(k));
    if (!keys.length) return null;
    return section('Weitere Trace-Felder', false, kv(keys.map((k) => [h('code', { text: k }),
      typeof t[k] === 'string' ? h('span', { text: t[k] }) : h('code', { class: 'wrap', text: JSON.stringify(t[k]) })])));
  };

  // ---------------------------------------------------------------------------- feedback
  const feedbackBar = (ctx) => {
    const box = h('div', { class: 'fb' });
    let rating = null;
    const rid = nextId('fbr');
    const upB = h('button', { type: 'button', class: 'thumb up', 'aria-pressed': 'false', 'aria-label': 'Gute Antwort', title: 'Gute Antwort' }, icon(I.up));
    const downB = h('button', { type: 'button', class: 'thumb down', 'aria-pressed': 'false', 'aria-label': 'Schlechte Antwort', title: 'Schlechte Antwort' }, icon(I.down));
    const reason = h('input', { type: 'text', id: rid, maxlength: '1000', placeholder: 'Grund (optional) …', autocomplete: 'off' });
    const send = h('button', { type: 'submit', class: 'btn small', text: 'Feedback senden' });
    const msg = h('span', { class: 'fb-msg', role: 'status' });
    const pick = (r) => {
      rating = r;
      upB.setAttribute('aria-pressed', String(r === 'up'));
      downB.setAttribute('aria-pressed', String(r === 'down'));
      msg.textContent = '';
      reason.focus();
    };
    upB.addEventListener('click', () => pick('up'));
    downB.addEventListener('click', () => pick('down'));
    const form = h('form', { class: 'fb-form', novalidate: true },
      h('span', { class: 'fb-q', text: 'Bewerten:' }), upB, downB,
      h('label', { for: rid, class: 'sr', text: 'Grund' }), reason, send, msg);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!rating) { msg.textContent = 'Bitte zuerst Daumen hoch oder runter wählen.'; msg.className = 'fb-msg bad'; upB.focus(); return; }
      send.disabled = true;
      msg.className = 'fb-msg';
      msg.textContent = 'Wird gesendet …';
      const body = {
        message: ctx.message, answer: ctx.answer, rating, reason: reason.value.trim(),
        session_id: ctx.session_id || null, module: ctx.module || null, author: auth ? auth.name : '',
      };
      try {
        const d = await api('POST', '/feedback', body);
        msg.className = 'fb-msg ok';
        msg.textContent = `Gespeichert${d && d.id != null ? ` (#${str(d.id)})` : ''}.`;
        state.feedback.push({ ...body, id: d && d.id, at: new Date() });
        renderMyFeedback();
        for (const b of [upB, downB, reason]) b.disabled = true;
        send.hidden = true;
      } catch (err) {
        msg.className = 'fb-msg bad';
        msg.textContent = `Nicht gespeichert: ${msgOf(err)}`;
        send.disabled = false;
      }
    });
    box.append(form);
    return box;
  };

  // ---------------------------------------------------------------------------- a result
  const resultView = (res) => {
    const col = h('section', { class: 'result', 'aria-label': res.label });
    const headKids = [h('h3', { class: 'res-title', text: res.label })];
    if (res.error) {
      col.append(h('div', { class: 'res-head' }, headKids), h('p', { class: 'error', role: 'alert', text: res.error }));
      return col;
    }
    const resp = isObj(res.data.response) ? res.data.response : {};
    const t = isObj(res.data.trace) ? res.data.trace : isObj(resp.trace) ? resp.trace : {};
    const module = str(t.module);
    headKids.push(
      badge(module || '?', `mod m-${module}`),
      resp.outcome ? badge(OUTCOMES[resp.outcome] || str(resp.outcome), 'soft') : null,
      resp.intent ? badge(str(resp.intent), 'soft mono') : null,
      resp.language ? badge(str(resp.language).toUpperCase(), 'soft') : null,
      h('span', { class: 'grow' }),
      h('span', { class: 'sub', text: res.at ? TF.format(res.at) : '' }));
    const head = h('div', { class: 'res-head' }, headKids);
    const why = h('p', { class: 'why' }, h('b', { text: MODULES[module] || module || 'Modul unbekannt' }),
      str(t.why) ? [': ', h('span', { text: str(t.why) })] : null);
    const main = h('div', { class: 'res-main' }, answerView(resp.answer, resp.citations));
    const follow = arr(resp.follow_up).map(str).filter(Boolean);
    if (follow.length) {
      main.append(h('div', { class: 'chips', role: 'group', 'aria-label': 'Folgefragen' },
        h('span', { class: 'sub', text: 'Folgefragen:' }),
        follow.map((f) => h('button', { type: 'button', class: 'chip', text: f, title: 'Als nächste Frage stellen', onclick: () => askFollow(f) }))));
    }
    main.append(feedbackBar({ message: res.message, answer: str(resp.answer), session_id: str(resp.session_id), module }));
    const diag = h('div', { class: 'diag' },
      why,
      routerView(t.route),
      curatedView(t),
      isObj(resp.recommendation) ? recommendationView(resp.recommendation, false) : recommendationView(t.scoring, true),
      profileEditor(resp, isObj(resp.recommendation) ? resp.recommendation : t.scoring),
      profileView(resp),
      passagesView(t.passages),
      scoresView(t),
      timingsView(t.timings_ms),
      extraView(t),
      section('Roh-JSON', false, h('pre', { class: 'json', text: JSON.stringify(res.data, null, 2) })));
    col.append(head, h('div', { class: 'res-body' }, main, diag));
    return col;
  };

  // ---------------------------------------------------------------------------- asking
  const askInput = $('ask-input');
  const askOne = async (message, sid, curated) => {
    const at = new Date();
    try {
      const d = await api('POST', '/ask', { message, session_id: sid || null, curated }, { timeout: ASK_TIMEOUT_MS });
      if (!isObj(d) || !isObj(d.response)) throw new ApiError(0, 'Unerwartete Antwort des Servers.', null);
      return { data: d, at, sent: sid || null, curated, message };
    } catch (e) {
      if (e.status === 404 && sid) {
        status('Das Gespräch ist auf dem Server abgelaufen – ein neues wurde begonnen.');
        return askOne(message, null, curated);
      }
      if (e.status === 401) throw e;
      return { error: msgOf(e), at, sent: sid || null, curated, message };
    }
  };
  const sidOf = (r) => (r && r.data && isObj(r.data.response) && typeof r.data.response.session_id === 'string' ? r.data.response.session_id : null);
  const updateSession = () => {
    const s = state.sid;
    const parts = [];
    parts.push(s ? `Gespräch ${s.slice(0, 8)}… · ${state.turns} ${state.turns === 1 ? 'Frage' : 'Fragen'}` : 'Neues Gespräch');
    if (state.sidAlt) parts.push(`ohne kuratierte Antworten: ${state.sidAlt.slice(0, 8)}…`);
    $('ask-session').textContent = parts.join(' · ');
    $('ask-reask').disabled = state.busy || !state.last;
  };
  const setBusy = (b) => {
    state.busy = b;
    const btn = $('ask-submit');
    btn.disabled = b;
    btn.classList.toggle('loading', b);
    btn.textContent = b ? 'Frage läuft …' : 'Fragen';
    $('turns').setAttribute('aria-busy', String(b));
    updateSession();
  };
  const announce = (results) => {
    $('ask-live').textContent = results.map((r) => (r.error ? `Fehler: ${r.error}`
      : `Antwort erhalten, Modul ${str(r.data && r.data.trace && r.data.trace.module) || 'unbekannt'}`)).join('; ');
  };
  const addTurn = (message, kind, results) => {
    const turns = $('turns');
    for (const old of turns.querySelectorAll('.turn:not(.collapsed)')) collapseTurn(old, true);
    const n = ++state.turns;
    const tid = nextId('turn');
    const cols = h('div', { class: `cols ${results.length > 1 ? 'cols-2' : 'cols-1'}` }, results.map(resultView));
    const toggle = h('button', { type: 'button', class: 'btn tiny', 'aria-expanded': 'true', 'aria-controls': tid, text: 'Details ausblenden' });
    const art = h('article', { class: 'turn', 'aria-label': `Frage ${n}` },
      h('header', { class: 'turn-h' },
        h('span', { class: 'turn-n', text: `#${n}` }),
        h('p', { class: 'turn-q', text: message }),
        kind ? badge(kind, 'kind') : null,
        toggle),
      h('div', { id: tid, class: 'turn-b' }, cols));
    toggle.addEventListener('click', () => collapseTurn(art, !art.classList.contains('collapsed')));
    turns.prepend(art);
    return art;
  };
  const collapseTurn = (art, collapse) => {
    art.classList.toggle('collapsed', collapse);
    const b = art.querySelector('.turn-h .btn');
    b.setAttribute('aria-expanded', String(!collapse));
    b.textContent = collapse ? 'Details einblenden' : 'Details ausblenden';
  };

  const submitAsk = async (text) => {
    const message = str(text).trim();
    if (state.busy) return;
    if (!message) { showError($('ask-error'), 'Bitte eine Frage eingeben.'); askInput.focus(); return; }
    if (message.length > MAX) { showError($('ask-error'), `Die Frage ist zu lang (höchstens ${MAX} Zeichen).`); return; }
    showError($('ask-error'), '');
    const compare = $('ask-compare').checked;
    setBusy(true);
    try {
      if (compare) {
        const [a, b] = await Promise.all([askOne(message, state.sid, true), askOne(message, state.sidAlt, false)]);
        a.label = 'Mit kuratierten Antworten';
        b.label = 'Ohne kuratierte Antworten';
        state.sid = sidOf(a) || state.sid;
        state.sidAlt = sidOf(b) || state.sidAlt;
        addTurn(message, 'Vergleich', [a, b]);
        announce([a, b]);
        state.last = { message, sent: a.sent, curated: true, result: a };
      } else {
        const curated = $('ask-curated').checked;
        const r = await askOne(message, state.sid, curated);
        r.label = curated ? 'Antwort' : 'Antwort (ohne kuratierte Antworten)';
        state.sid = sidOf(r) || state.sid;
        addTurn(message, curated ? null : 'ohne kuratierte', [r]);
        announce([r]);
        state.last = { message, sent: r.sent, curated, result: r };
      }
      if (askInput.value.trim() === message) askInput.value = '';
    } catch (e) {
      if (e.status !== 401) showError($('ask-error'), msgOf(e));
    } finally {
      setBusy(false);
    }
  };
  // Re-ask the last message (after editing a curated answer): before left, after right.
  const reask = async () => {
    const last = state.last;
    if (!last || state.busy) return;
    showError($('ask-error'), '');
    setBusy(true);
    try {
      const r = await askOne(last.message, last.sent, last.curated);
      const before = { ...last.result, label: 'Vorher' };
      r.label = 'Nachher';
      state.sid = sidOf(r) || state.sid;
      addTurn(last.message, 'Erneut gefragt', [before, r]);
      announce([r]);
      state.last = { message: last.message, sent: last.sent, curated: last.curated, result: r };
    } catch (e) {
      if (e.status !== 401) showError($('ask-error'), msgOf(e));
    } finally {
      setBusy(false);
    }
  };
  const askFollow = (text) => {
    go('fragen');
    askInput.value = text;
    askInput.focus();
    submitAsk(text);
  };
  $('ask-form').addEventListener('submit', (e) => { e.preventDefault(); submitAsk(askInput.value); });
  askInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submitAsk(askInput.value);
    }
  });
  $('ask-reask').addEventListener('click', reask);
  $('ask-new').addEventListener('click', () => {
    state.sid = null;
    state.sidAlt = null;
    state.turns = 0;
    state.last = null;
    $('turns').replaceChildren();
    showError($('ask-error'), '');
    updateSession();
    askInput.focus();
  });
  $('ask-compare').addEventListener('change', () => {
    $('ask-curated').disabled = $('ask-compare').checked;
  });

  // ---------------------------------------------------------------------------- curated answers editor
  const editor = { current: null, isNew: false, dirty: false, disabled: false, fields: new Map(), form: null, saving: false };
  const loadDocuments = async () => {
    if (state.documents) return state.documents;
    const d = await api('GET', '/documents');
    state.documents = arr(d && d.documents).filter(isObj);
    return state.documents;
  };
  const loadAnswers = async (force) => {
    if (state.answers && !force) return state.answers;
    const d = await api('GET', '/answers');
    state.answers = arr(d && d.answers).filter(isObj);
    state.refused = isObj(d && d.refused) ? d.refused : {};
    return state.answers;
  };
  const findEntry = (id) => (state.answers || []).find((e) => e.id === id) || null;

  const renderRefused = () => {
    const box = $('refused');
    const ids = Object.keys(state.refused || {});
    box.hidden = !ids.length;
    if (!ids.length) { box.replaceChildren(); return; }
    box.replaceChildren(
      h('p', { class: 'refused-h' }, h('b', { text: `Vom Server abgelehnt (${ids.length})` }), ' – diese Einträge werden nicht ausgeliefert, bis sie korrigiert sind:'),
      h('ul', null, ids.map((id) => h('li', null,
        findEntry(id) ? entryButton(id) : h('code', { text: id }), ': ',
        arr(state.refused[id]).map((p, i) => [i ? ' · ' : '', h('span', { text: str(p) })])))));
  };
  const entryButton = (id) => h('button', { type: 'button', class: 'linkish mono', text: id, onclick: () => openEditor(id) });

  const renderList = () => {
    const list = $('ed-list');
    const q = norm($('ed-search').value.trim());
    const items = [];
    for (const e of state.answers || []) {
      let hitQ = null;
      if (q) {
        const inId = norm(e.id).includes(q) || norm(e.topic).includes(q);
        hitQ = arr(e.questions).find((x) => norm(x).includes(q)) || null;
        if (!inId && !hitQ) continue;
      }
      items.push([e, hitQ]);
    }
    list.replaceChildren(...items.map(([e, hitQ]) => {
      const refused = state.refused && state.refused[e.id];
      const b = h('button', {
        type: 'button', class: 'ed-item', 'data-id': e.id,
        'aria-current': editor.current === e.id ? 'true' : null,
        onclick: () => openEditor(e.id),
      },
      h('span', { class: 'ed-row' },
        h('span', { class: 'mono ed-id', text: e.id }),
        e.kind === 'policy' || e.kind === 'gap' ? badge(e.kind, 'soft') : null,
        e.disabled ? badge('deaktiviert', 'off') : null,
        e.serving === false && !e.disabled && !refused ? badge('nicht live', 'bad') : null,
        refused ? badge('abgelehnt', 'bad') : null,
        e.source === 'staff' ? badge('bearbeitet', 'staff') : null),
      h('span', { class: 'ed-sub' }, e.topic ? h('span', { class: 'topic', text: e.topic }) : null,
        h('span', { text: hitQ || str(arr(e.questions)[0]) })));
      return h('li', null, b);
    }));
    $('ed-count').textContent = q ? `${items.length} von ${(state.answers || []).length}` : `${items.length} Einträge`;
  };
  $('ed-search').addEventListener('input', renderList);
  $('ed-search').addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') {
      const first = $('ed-list').querySelector('button');
      if (first) { e.preventDefault(); first.focus(); }
    } else if (e.key === 'Enter') {
      const first = $('ed-list').querySelector('button');
      if (first) { e.preventDefault(); first.click(); }
    }
  });
  $('ed-list').addEventListener('keydown', (e) => {
    const btns = Array.from($('ed-list').querySelectorAll('button.ed-item'));
    const i = btns.indexOf(document.activeElement);
    if (i < 0) return;
    let j = null;
    if (e.key === 'ArrowDown') j = Math.min(btns.length - 1, i + 1);
    else if (e.key === 'ArrowUp') j = i - 1;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = btns.length - 1;
    if (j == null) return;
    e.preventDefault();
    if (j < 0) $('ed-search').focus();
    else btns[j].focus();
  });

  const openEditor = async (id) => {
    const main = $('ed-main');
    try {
      if (!state.answers) {
        $('ed-count').textContent = 'Lädt …';
        await Promise.all([loadAnswers(), loadDocuments()]);
        renderRefused();
        renderList();
        // the list was reloaded (e.g. after a promotion): an open, unchanged form shows the new version
        const fresh = editor.current && findEntry(editor.current);
        if (fresh && !editor.dirty && !id) buildForm(fresh, false);
        else if (fresh && editor.dirty) status(`„${editor.current}“ wurde auf dem Server geändert – vor dem Speichern „Neu laden“ erwägen.`);
      } else if (!state.documents) await loadDocuments();
    } catch (e) {
      if (e.status !== 401) main.replaceChildren(h('p', { class: 'error', role: 'alert', text: `Antworten nicht geladen: ${msgOf(e)}` }));
      return;
    }
    if (!id) return;
    if (editor.dirty && id !== editor.current && !window.confirm('Ungespeicherte Änderungen verwerfen?')) return;
    const e = findEntry(id);
    if (!e) { status(`Eintrag „${id}“ nicht gefunden.`); return; }
    if ($('ed-search').value && !$('ed-list').querySelector(`[data-id="${CSS.escape(id)}"]`)) $('ed-search').value = '';
    buildForm(e, false);
  };
  $('ed-reload').addEventListener('click', async () => {
    if (editor.dirty && !window.confirm('Ungespeicherte Änderungen verwerfen?')) return;
    try {
      await loadAnswers(true);
      state.documents = null;
      await loadDocuments();
      renderRefused();
      renderList();
      if (editor.current && findEntry(editor.current)) buildForm(findEntry(editor.current), false);
      status('Antworten neu geladen.');
    } catch (e) {
      if (e.status !== 401) status(`Nicht geladen: ${msgOf(e)}`);
    }
  });
  $('ed-new').addEventListener('click', async () => {
    if (editor.dirty && !window.confirm('Ungespeicherte Änderungen verwerfen?')) return;
    await openEditor();
    buildForm({
      id: '', kind: 'answer', topic: '', questions: [], lead: { de: '', en: '' }, more: [],
      quotes: [{ doc: '', text: '' }], follow_ups: { de: [], en: [] }, contact: false, disabled: false,
    }, true);
  });
  $('ed-export').addEventListener('click', async () => {
    try {
      const { name } = await download('/answers.yaml', 'curated-answers.yaml');
      status(`Export heruntergeladen: ${name}`);
    } catch (e) {
      if (e.status !== 401) status(`Export fehlgeschlagen: ${msgOf(e)}`);
    }
  });

  // one field: label, control, hint, error slot; registered under its loc key
  const field = (key, label, control, hint) => {
    const eid = nextId('ferr');
    const hid = hint ? nextId('fh') : null;
    const wrap = h('div', { class: 'field', 'data-loc': key },
      h('label', { for: control.id, text: label }),
      control,
      hint ? h('p', { class: 'fhint', id: hid, text: hint }) : null,
      h('p', { class: 'ferr', id: eid, hidden: true }));
    if (hid) control.setAttribute('aria-describedby', hid);
    editor.fields.set(key, { wrap, control, eid, hid });
    return wrap;
  };
  // textareas grow with their text (height through the CSSOM), up to a limit
  const grow = (t) => {
    t.style.height = 'auto';
    t.style.height = `${Math.min(t.scrollHeight + 2, t.classList.contains('lines') ? 320 : 220)}px`;
  };
  const ta = (value, rows, cls) => h('textarea', { id: nextId('f'), rows: String(rows || 2), class: cls || null, value, spellcheck: 'true' });
  const docSelect = (value) => {
    const sel = h('select', { id: nextId('f') }, h('option', { value: '', text: '– Dokument wählen –' }));
    const docs = state.documents || [];
    for (const d of docs) sel.append(h('option', { value: str(d.doc_id), text: `${str(d.title)} (${str(d.doc_id)})` }));
    if (value && !docs.some((d) => d.doc_id === value)) sel.append(h('option', { value, text: `${value} (unbekannt)` }));
    sel.value = value || '';
    return sel;
  };

  const buildForm = (entry, isNew) => {
    editor.current = isNew ? null : entry.id;
    editor.isNew = isNew;
    editor.dirty = false;
    editor.disabled = !!entry.disabled;
    editor.fields = new Map();
    for (const b of $('ed-list').querySelectorAll('button.ed-item')) {
      if (b.dataset.id === editor.current) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    }
    const idIn = h('input', { id: nextId('f'), type: 'text', value: entry.id, readonly: isNew ? null : true, spellcheck: 'false', autocomplete: 'off', class: 'mono' });
    const kindSel = h('select', { id: nextId('f') }, h('option', { value: 'answer', text: 'answer (Antwort)' }), h('option', { value: 'policy', text: 'policy (Richtlinie)' }), h('option', { value: 'gap', text: 'gap (nicht abgedeckt)' }));
    kindSel.value = ['policy', 'gap'].includes(entry.kind) ? entry.kind : 'answer';
    const topicIn = h('input', { id: nextId('f'), type: 'text', value: entry.topic, autocomplete: 'off' });
    const qTa = ta(arr(entry.questions).join('\n'), 4, 'lines');
    const qCount = h('span', { class: 'sub' });
    const countQ = () => { qCount.textContent = ` (${lines(qTa.value).length})`; };
    countQ();
    qTa.addEventListener('input', countQ);
    const lead = isObj(entry.lead) ? entry.lead : {};
    const leadDe = ta(lead.de, 3);
    const leadEn = ta(lead.en, 3);
    const fu = isObj(entry.follow_ups) ? entry.follow_ups : {};
    const fuDe = ta(arr(fu.de).join('\n'), 3, 'lines');
    const fuEn = ta(arr(fu.en).join('\n'), 3, 'lines');
    const contact = h('input', { type: 'checkbox', id: nextId('f'), checked: !!entry.contact });

    // "more" sentences (at most two) and quotes: rows that can be added and removed
    const moreBox = h('div', { class: 'rows' });
    const addMoreBtn = h('button', { type: 'button', class: 'btn small', text: '+ Satz' });
    const quoteBox = h('div', { class: 'rows' });
    const addQuoteBtn = h('button', { type: 'button', class: 'btn small', text: '+ Zitat' });
    const renumber = () => {
      // loc keys follow the row order, so errors land on the right row after a removal
      for (const k of Array.from(editor.fields.keys())) if (/^(more|quotes)\./.test(k)) editor.fields.delete(k);
      Array.from(moreBox.children).forEach((row, i) => {
        row.dataset.loc = `more.${i}`;
        row.querySelector('.row-n').textContent = `Satz ${i + 2}`;
        editor.fields.set(`more.${i}`, { wrap: row, control: row.querySelector('textarea'), eid: row.querySelector('.ferr.row-err').id });
        for (const lang of ['de', 'en']) {
          const f = row.querySelector(`.field[data-lang="${lang}"]`);
          f.dataset.loc = `more.${i}.${lang}`;
          editor.fields.set(`more.${i}.${lang}`, { wrap: f, control: f.querySelector('textarea'), eid: f.querySelector('.ferr').id });
        }
      });
      Array.from(quoteBox.children).forEach((row, i) => {
        row.dataset.loc = `quotes.${i}`;
        row.querySelector('.row-n').textContent = `[${i + 1}]`;
        editor.fields.set(`quotes.${i}`, { wrap: row, control: row.querySelector('select'), eid: row.querySelector('.ferr.row-err').id });
        for (const part of ['doc', 'text']) {
          const f = row.querySelector(`.field[data-part="${part}"]`);
          f.dataset.loc = `quotes.${i}.${part}`;
          editor.fields.set(`quotes.${i}.${part}`, { wrap: f, control: f.querySelector('select, textarea'), eid: f.querySelector('.ferr').id });
        }
      });
      addMoreBtn.disabled = moreBox.children.length >= 2;
    };
    const subField = (label, control, attrs) => {
      const eid = nextId('ferr');
      return h('div', { class: 'field', ...attrs }, h('label', { for: control.id, text: label }), control, h('p', { class: 'ferr', id: eid, hidden: true }));
    };
    const removeBtn = (row, what) => h('button', {
      type: 'button', class: 'icon-btn', 'aria-label': `${what} entfernen`, title: `${what} entfernen`,
      onclick: () => {
        const next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        renumber();
        markDirty();
        const f = next && next.querySelector('textarea, select');
        (f || addQuoteBtn).focus();
      },
    }, icon(I.x));
    const addMore = (m) => {
      const row = h('div', { class: 'row' });
      row.append(
        h('div', { class: 'row-h' }, h('span', { class: 'row-n' }), removeBtn(row, 'Satz')),
        h('div', { class: 'pair' },
          subField('Deutsch', ta(isObj(m) ? m.de : '', 2), { 'data-lang': 'de' }),
          subField('Englisch', ta(isObj(m) ? m.en : '', 2), { 'data-lang': 'en' })),
        h('p', { class: 'ferr row-err', id: nextId('ferr'), hidden: true }));
      moreBox.append(row);
    };
    const addQuote = (q) => {
      const row = h('div', { class: 'row' });
      row.append(
        h('div', { class: 'row-h' }, h('span', { class: 'row-n mono' }), removeBtn(row, 'Zitat')),
        subField('Dokument', docSelect(isObj(q) ? q.doc : ''), { 'data-part': 'doc' }),
        subField('Wörtlicher Text', ta(isObj(q) ? q.text : '', 3), { 'data-part': 'text' }),
        h('p', { class: 'ferr row-err', id: nextId('ferr'), hidden: true }));
      quoteBox.append(row);
    };
    arr(entry.more).forEach(addMore);
    arr(entry.quotes).forEach(addQuote);
    addMoreBtn.addEventListener('click', () => {
      if (moreBox.children.length >= 2) return;
      addMore({ de: '', en: '' });
      renumber();
      for (const t of moreBox.lastElementChild.querySelectorAll('textarea')) grow(t);
      markDirty();
      moreBox.lastElementChild.querySelector('textarea').focus();
    });
    addQuoteBtn.addEventListener('click', () => {
      addQuote({ doc: '', text: '' });
      renumber();
      for (const t of quoteBox.lastElementChild.querySelectorAll('textarea')) grow(t);
      markDirty();
      quoteBox.lastElementChild.querySelector('select').focus();
    });

    const saveBtn = h('button', { type: 'submit', class: 'btn primary', text: 'Speichern' });
    const toggleBtn = h('button', {
      type: 'button', class: 'btn', text: editor.disabled ? 'Aktivieren' : 'Deaktivieren', disabled: isNew,
      title: 'Speichert den Eintrag mit umgeschaltetem Status (samt ungespeicherten Änderungen im Formular)',
    });
    const formStatus = h('div', { class: 'form-status', role: 'status', 'aria-live': 'polite' });
    const summary = h('div', { class: 'form-errors', role: 'alert', hidden: true });
    const meta = h('p', { class: 'meta' });
    const stateBadge = h('span');
    const paintMeta = (e) => {
      stateBadge.replaceChildren(editor.disabled ? badge('deaktiviert', 'off')
        : !isNew && e.serving === false ? badge('nicht ausgeliefert', 'bad') : badge('aktiv', 'on'));
      fill(meta, stateBadge,
        isNew ? ' Neuer Eintrag – wird unter seiner Id gespeichert.' : [
          ' Quelle: ', h('b', { text: e.source === 'staff' ? 'Staff-Bearbeitung' : e.source === 'file' ? 'Datei' : str(e.source) || '–' }),
          e.edited_by ? [' · bearbeitet von ', h('b', { text: str(e.edited_by) })] : null,
          e.edited_at ? ` am ${fmtDate(e.edited_at)}` : null,
        ]);
      if (!isNew && state.refused && state.refused[e.id]) {
        meta.append(h('span', { class: 'bad-text' }, ' · abgelehnt: ', arr(state.refused[e.id]).map((p, i) => [i ? ' · ' : '', h('span', { text: str(p) })])));
      }
    };
    paintMeta(entry);

    const contactErr = h('p', { class: 'ferr', id: nextId('ferr'), hidden: true });
    const contactWrap = h('div', { class: 'field check', 'data-loc': 'contact' },
      h('label', null, contact, ' Kontaktangebot anhängen (bei Richtlinien-Antworten üblich)'), contactErr);
    const moreErr = h('p', { class: 'ferr', id: nextId('ferr'), hidden: true });
    const quotesErr = h('p', { class: 'ferr', id: nextId('ferr'), hidden: true });
    const form = h('form', { class: 'ed-form', novalidate: true, 'aria-labelledby': 'ed-title' },
      h('div', { class: 'ed-head' },
        h('h3', { id: 'ed-title' }, isNew ? 'Neuer Eintrag' : ['Eintrag ', h('span', { class: 'mono', text: entry.id })]),
        h('span', { class: 'grow' }), saveBtn, toggleBtn),
      meta, summary, formStatus,
      h('div', { class: 'grid3' },
        field('id', 'Id', idIn, isNew ? 'a–z, 0–9, Bindestrich; nach dem Speichern fest' : null),
        field('kind', 'Art', kindSel),
        field('topic', 'Thema', topicIn)),
      field('questions', 'Beispielfragen', qTa, 'Eine Frage pro Zeile, mindestens 3 (förmlich, locker, Tippfehler, Englisch).'),
      h('fieldset', { class: 'fs' }, h('legend', { text: 'Lead (Urteil, Zahl oder Definition zuerst; [1], [2] zitieren die Zitate)' }),
        h('div', { class: 'pair' }, field('lead.de', 'Deutsch', leadDe), field('lead.en', 'Englisch', leadEn))),
      h('fieldset', { class: 'fs' }, h('legend', { text: 'Weitere Sätze (höchstens 2)' }), moreBox, moreErr, h('p', null, addMoreBtn)),
      h('fieldset', { class: 'fs' }, h('legend', { text: 'Zitate (wörtlich aus dem Dokument)' }), quoteBox, quotesErr, h('p', null, addQuoteBtn)),
      h('fieldset', { class: 'fs' }, h('legend', { text: 'Folgefragen (eine pro Zeile)' }),
        h('div', { class: 'pair' }, field('follow_ups.de', 'Deutsch', fuDe), field('follow_ups.en', 'Englisch', fuEn))),
      contactWrap);
    editor.fields.set('contact', { wrap: contactWrap, control: contact, eid: contactErr.id });
    editor.fields.set('lead', editor.fields.get('lead.de'));
    editor.fields.set('follow_ups', editor.fields.get('follow_ups.de'));
    editor.fields.set('more', { wrap: moreBox.parentElement, control: addMoreBtn, eid: moreErr.id });
    editor.fields.set('quotes', { wrap: quoteBox.parentElement, control: addQuoteBtn, eid: quotesErr.id });
    renumber();
    editor.form = form;

    const markDirty = () => {
      if (editor.form !== form) return; // an event from a replaced form
      if (!editor.dirty) {
        editor.dirty = true;
        formStatus.replaceChildren(h('span', { class: 'sub', text: 'Ungespeicherte Änderungen' }));
      }
    };
    form.addEventListener('input', markDirty);
    form.addEventListener('change', markDirty);

    const collect = (disabled) => ({
      id: idIn.value.trim(),
      kind: kindSel.value,
      topic: topicIn.value.trim(),
      questions: lines(qTa.value),
      lead: { de: leadDe.value.trim(), en: leadEn.value.trim() },
      more: Array.from(moreBox.children).map((row) => {
        const [de, en] = row.querySelectorAll('textarea');
        return { de: de.value.trim(), en: en.value.trim() };
      }),
      quotes: Array.from(quoteBox.children).map((row) => ({ doc: row.querySelector('select').value, text: row.querySelector('textarea').value.trim() })),
      follow_ups: { de: lines(fuDe.value), en: lines(fuEn.value) },
      contact: contact.checked,
      disabled,
    });

    const save = async (disabled, what) => {
      if (editor.saving) return;
      clearFieldErrors();
      const entryOut = collect(disabled);
      if (!entryOut.id) { placeErrors([{ loc: ['id'], msg: 'Bitte eine Id vergeben.' }], null, entryOut); return; }
      if (isNew && findEntry(entryOut.id)) {
        placeErrors([{ loc: ['id'], msg: 'Diese Id gibt es schon – bitte den vorhandenen Eintrag bearbeiten oder eine andere Id wählen.' }], null, entryOut);
        return;
      }
      editor.saving = true;
      saveBtn.disabled = true;
      toggleBtn.disabled = true;
      formStatus.replaceChildren(h('span', { class: 'sub', text: 'Wird gespeichert …' }));
      try {
        const d = await api('PUT', `/answers/${encodeURIComponent(entryOut.id)}`, { entry: entryOut, author: auth ? auth.name : '' });
        // the server answers with the entry itself; who saved it and when is known here
        const got = isObj(d && d.entry) ? d.entry : entryOut;
        const saved = {
          ...got,
          source: got.source || 'staff',
          edited_by: got.edited_by || (auth ? auth.name : null),
          edited_at: got.edited_at || new Date().toISOString(),
          serving: typeof got.serving === 'boolean' ? got.serving : !got.disabled,
        };
        const list = state.answers || (state.answers = []);
        const i = list.findIndex((e) => e.id === saved.id);
        if (i >= 0) list[i] = saved;
        else list.unshift(saved);
        if (state.refused) delete state.refused[saved.id];
        renderRefused();
        buildForm(saved, false);
        renderList();
        if (!$('ed-list').querySelector(`[data-id="${CSS.escape(saved.id)}"]`)) {
          $('ed-search').value = ''; // keep the saved entry visible in the list
          renderList();
        }
        const fs = editor.form.querySelector('.form-status');
        fill(fs, h('span', { class: 'ok', text: `${what} um ${TF.format(new Date())}. Die Änderung ist sofort live.` }),
          state.last ? h('button', {
            type: 'button', class: 'btn small', text: 'Im Bereich „Fragen“ erneut fragen',
            onclick: () => { go('fragen'); reask(); },
          }) : null);
        fs.querySelector('.ok').tabIndex = -1;
        fs.querySelector('.ok').focus();
      } catch (e) {
        if (e.status === 401) return;
        if (e.errors && e.errors.length) placeErrors(e.errors, e.detail, entryOut);
        else {
          summary.hidden = false;
          summary.replaceChildren(h('p', null, h('b', { text: 'Nicht gespeichert: ' }), h('span', { text: msgOf(e) })));
          summary.tabIndex = -1;
          summary.focus();
        }
        formStatus.replaceChildren(h('span', { class: 'sub', text: editor.dirty ? 'Ungespeicherte Änderungen' : '' }));
      } finally {
        editor.saving = false;
        if (editor.form === form) {
          saveBtn.disabled = false;
          toggleBtn.disabled = isNew;
        }
      }
    };
    form.addEventListener('submit', (e) => { e.preventDefault(); save(editor.disabled, 'Gespeichert'); });
    toggleBtn.addEventListener('click', () => save(!editor.disabled, editor.disabled ? 'Aktiviert' : 'Deaktiviert'));
    form.addEventListener('keydown', (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
        e.preventDefault();
        save(editor.disabled, 'Gespeichert');
      }
    });

    $('ed-main').replaceChildren(form);
    for (const t of form.querySelectorAll('textarea')) grow(t);
    form.addEventListener('input', (e) => { if (e.target.tagName === 'TEXTAREA') grow(e.target); });
    if (isNew) idIn.focus();
  };

  const clearFieldErrors = () => {
    const form = editor.form;
    if (!form) return;
    for (const p of form.querySelectorAll('.ferr')) { p.hidden = true; p.textContent = ''; }
    for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
    for (const w of form.querySelectorAll('.invalid')) w.classList.remove('invalid');
    for (const { control, eid, hid } of editor.fields.values()) {
      if (control && eid) {
        const ids = (control.getAttribute('aria-describedby') || '').split(/\s+/).filter((x) => x && x !== eid);
        if (hid && !ids.includes(hid)) ids.push(hid);
        if (ids.length) control.setAttribute('aria-describedby', ids.join(' '));
        else control.removeAttribute('aria-describedby');
      }
    }
    const s = form.querySelector('.form-errors');
    s.hidden = true;
    s.replaceChildren();
  };
  const LIST_FIELDS = new Set(['questions', 'follow_ups.de', 'follow_ups.en']);
  const FIELD_NAMES = {
    id: 'Id', kind: 'Art', topic: 'Thema', questions: 'Beispielfragen', lead: 'Lead', 'lead.de': 'Lead (Deutsch)', 'lead.en': 'Lead (Englisch)',
    more: 'Weitere Sätze', quotes: 'Zitate', follow_ups: 'Folgefragen', 'follow_ups.de': 'Folgefragen (Deutsch)', 'follow_ups.en': 'Folgefragen (Englisch)', contact: 'Kontaktangebot',
  };
  const fieldName = (key) => {
    if (FIELD_NAMES[key]) return FIELD_NAMES[key];
    let m = /^quotes\.(\d+)(?:\.(doc|text))?$/.exec(key);
    if (m) return `Zitat [${Number(m[1]) + 1}]${m[2] ? (m[2] === 'doc' ? ' – Dokument' : ' – Text') : ''}`;
    m = /^more\.(\d+)(?:\.(de|en))?$/.exec(key);
    if (m) return `Satz ${Number(m[1]) + 2}${m[2] ? (m[2] === 'de' ? ' (Deutsch)' : ' (Englisch)') : ''}`;
    return key;
  };
  // Errors from a 422: each at its field (loc like ["quotes",0,"text"] or ["lead","de"]).
  const placeErrors = (errors, detail, sent) => {
    const form = editor.form;
    if (!form) return;
    const unplaced = [];
    const placed = [];
    for (const err of errors) {
      if (!isObj(err)) continue;
      const loc = arr(err.loc).map((x) => (typeof x === 'number' ? x : str(x)));
      while (loc.length && (loc[0] === 'body' || loc[0] === 'entry')) loc.shift();
      const msg = str(err.msg) || 'Ungültig';
      let done = false;
      for (let n = loc.length; n > 0 && !done; n--) {
        const key = loc.slice(0, n).join('.');
        const f = editor.fields.get(key);
        if (!f) continue;
        const rest = loc.slice(n);
        let text = msg;
        if (LIST_FIELDS.has(key) && typeof rest[0] === 'number') {
          const items = key === 'questions' ? sent.questions : sent.follow_ups[key.split('.')[1]];
          const item = items && items[rest[0]];
          text = `Zeile ${rest[0] + 1}${item ? ` („${item.length > 60 ? item.slice(0, 57) + '…' : item}“)` : ''}: ${msg}`;
        } else if (rest.length) text = `${rest.join('.')}: ${msg}`;
        const p = document.getElementById(f.eid);
        if (p) {
          p.hidden = false;
          p.textContent = p.textContent ? `${p.textContent} · ${text}` : text;
        }
        f.wrap.classList.add('invalid');
        if (f.control && f.control.tagName !== 'BUTTON') {
          f.control.setAttribute('aria-invalid', 'true');
          const ids = (f.control.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
          if (!ids.includes(f.eid)) ids.unshift(f.eid);
          f.control.setAttribute('aria-describedby', ids.join(' '));
        }
        placed.push({ key, text, control: f.control });
        done = true;
      }
      if (!done) unplaced.push(`${loc.join('.') || 'Eintrag'}: ${msg}`);
    }
    const s = form.querySelector('.form-errors');
    s.hidden = false;
    const count = placed.length + unplaced.length;
    s.replaceChildren(
      // the server's summary only when some problem has no field to sit at
      h('p', null, h('b', { text: `Nicht gespeichert – ${count} ${count === 1 ? 'Problem' : 'Probleme'}` }),
        detail && (unplaced.length || !placed.length) ? [': ', h('span', { text: detail })] : null),
      h('ul', null,
        placed.map((p) => h('li', null, h('button', { type: 'button', class: 'linkish', text: fieldName(p.key), onclick: () => p.control && p.control.focus() }), ': ', h('span', { text: p.text }))),
        unplaced.map((u) => h('li', { text: u }))));
    const first = placed.find((p) => p.control && p.control.tagName !== 'BUTTON');
    if (first) {
      first.control.focus();
      first.control.scrollIntoView({ block: 'center' });
    } else {
      s.tabIndex = -1;
      s.focus();
    }
  };

  // ---------------------------------------------------------------------------- eval
  const METRICS_RETRIEVAL = [
    ['cases', 'Fälle', 'count'], ['hit@1', 'Treffer@1', 'rate'], ['hit@3', 'Treffer@3', 'rate'],
    ['hit@5', 'Treffer@5', 'rate'], ['mrr', 'MRR', 'score'],
  ];
  const METRICS_CHAT = [
    ['cases', 'Fälle', 'count'],
    ['answer_cases', 'Fälle mit erwarteter Antwort', 'count'], ['answer_hit', 'Antwort getroffen', 'rate'],
    ['citation_cases', 'Fälle mit erwarteter Quelle', 'count'], ['citation_hit', 'Quelle getroffen', 'rate'],
    ['outcome.answer', 'Ergebnis „Antwort“ richtig', 'outcome'], ['outcome.uncovered', 'Ergebnis „nicht abgedeckt“ richtig', 'outcome'],
    ['outcome.policy', 'Ergebnis „Richtlinie“ richtig', 'outcome'], ['outcome.decline', 'Ergebnis „Ablehnung“ richtig', 'outcome'],
    ['in_scope_cases', 'Fälle im Themenbereich', 'count'], ['in_scope_declines', 'Ablehnungen im Themenbereich', 'count-low'],
    ['in_scope_decline_rate', 'Ablehnungsquote im Themenbereich', 'rate-low'],
    ['english_cases', 'Englische Fälle', 'count'], ['english_lead', 'Englischer Lead', 'rate'], ['language_match', 'Sprache passt', 'rate'],
    ['attack_cases', 'Angriffe', 'count'], ['attacks_declined', 'Angriffe abgelehnt', 'rate'],
    ['curated_served', 'Kuratierte Antworten ausgeliefert', 'count'], ['curated_false_match', 'Kuratierte Fehltreffer', 'count-low'],
    ['curated_false_match_rate', 'Kuratierte Fehltrefferquote', 'rate-low'],
    ['conversations', 'Gespräche', 'count'], ['turns', 'Gesprächsrunden', 'count'], ['slots_checked', 'Geprüfte Angaben', 'count'],
    ['slot_accuracy', 'Angaben richtig verstanden', 'rate'], ['asked_known', 'Bekanntes erneut gefragt', 'count-low'],
  ];
  const pick = (obj, path) => {
    let v = obj;
    for (const k of path.split('.')) v = isObj(v) ? v[k] : undefined;
    return v;
  };
  const metricCells = (cur, prev, kind) => {
    // outcome: {cases, accuracy}; the accuracy is compared, the cases shown beside it
    let c = cur;
    let p = prev;
    let note = null;
    if (kind === 'outcome') {
      note = isObj(cur) && num(cur.cases) != null ? `${cur.cases} Fälle` : null;
      c = isObj(cur) ? cur.accuracy : null;
      p = isObj(prev) ? prev.accuracy : null;
      kind = 'rate';
    }
    const rate = kind === 'rate' || kind === 'rate-low';
    const show = (v) => {
      if (num(v) == null) return '–';
      if (rate) return `${nf(1).format(v * 100)} %`;
      if (kind === 'score') return nf(3).format(v);
      return Number.isInteger(v) ? nf(0).format(v) : nf(2).format(v);
    };
    let diff = '–';
    let cls = 'same';
    const cv = num(c);
    const pv = num(p);
    if (cv != null && pv != null) {
      const d = cv - pv;
      const eps = rate || kind === 'score' ? 0.0005 : 0; // below the shown precision
      if (Math.abs(d) <= eps) diff = '±0';
      else if (rate) diff = `${d > 0 ? '+' : '−'}${nf(1).format(Math.abs(d) * 100)} pp`;
      else if (kind === 'score') diff = `${d > 0 ? '+' : '−'}${nf(3).format(Math.abs(d))}`;
      else diff = `${d > 0 ? '+' : '−'}${nf(Number.isInteger(d) ? 0 : 2).format(Math.abs(d))}`;
      if (Math.abs(d) > eps) {
        const lower = kind.endsWith('-low');
        const neutral = kind === 'count';
        cls = neutral ? 'neutral' : (d > 0) !== lower ? 'better' : 'worse';
      }
    }
    const label = cls === 'better' ? ' (besser)' : cls === 'worse' ? ' (schlechter)' : '';
    return [
      h('td', { class: 'num' }, h('span', { text: show(c) }), note ? h('span', { class: 'sub', text: ` · ${note}` }) : null),
      h('td', { class: 'num prev', text: show(p) }),
      h('td', { class: `num diff ${cls}` }, diff, label ? h('span', { class: 'sr', text: label }) : null),
    ];
  };
  const metricsTable = (caption, spec, groups) => {
    // groups: [{title, cur, prev}]; rows for known metrics plus unknown numeric keys
    const keys = spec.slice();
    for (const g of groups) {
      for (const k of Object.keys(isObj(g.cur) ? g.cur : {})) {
        if (!keys.some(([kk]) => kk === k || kk.startsWith(`${k}.`)) && (num(g.cur[k]) != null || g.cur[k] === null)) keys.push([k, k, 'count']);
      }
    }
    const present = keys.filter(([k]) => groups.some((g) => pick(g.cur, k) !== undefined || pick(g.prev, k) !== undefined));
    const head = [h('th', { scope: 'col', text: 'Metrik' })];
    for (const g of groups) {
      head.push(h('th', { scope: 'col', class: 'num grp', text: g.title }), h('th', { scope: 'col', class: 'num', text: 'vorher' }), h('th', { scope: 'col', class: 'num', text: 'Δ' }));
    }
    const rows = present.map(([k, label, kind]) => h('tr', { class: kind === 'count' || kind === 'count-low' ? 'cnt' : null },
      h('th', { scope: 'row' }, h('span', { text: label }), label !== k ? h('code', { class: 'key', text: k }) : null),
      groups.map((g) => metricCells(pick(g.cur, k), pick(g.prev, k), kind))));
    return h('div', { class: 'tbl' }, h('table', { class: 'metrics' }, h('caption', { text: caption }), h('thead', null, h('tr', null, head)), h('tbody', null, rows)));
  };
  const renderEval = (d) => {
    const prev = isObj(d.previous) ? d.previous : null;
    const chat = isObj(d.chat) ? d.chat : {};
    const pchat = prev && isObj(prev.chat) ? prev.chat : {};
    const groups = [{ title: 'Einzelfragen', cur: chat.single_turn, prev: pchat.single_turn }];
    if (isObj(chat.conversations) || isObj(pchat.conversations)) groups.push({ title: 'Gespräche', cur: chat.conversations, prev: pchat.conversations });
    $('eval-result').replaceChildren(
      h('p', { class: 'line' }, 'Set ', h('b', { class: 'mono', text: str(d.name) }), ` · Laufzeit ${fmt(d.seconds, 1)} s`,
        prev ? ` · verglichen mit dem vorigen Lauf${num(prev.seconds) != null ? ` (${fmt(prev.seconds, 1)} s)` : ''}` : ' · kein vorheriger Lauf zum Vergleich',
        h('span', { class: 'legend' }, h('span', { class: 'better', text: 'grün = besser' }), ' ', h('span', { class: 'worse', text: 'rot = schlechter' }))),
      h('div', { class: 'eval-grid' },
        metricsTable('Retrieval', METRICS_RETRIEVAL, [{ title: 'aktuell', cur: d.retrieval, prev: prev && prev.retrieval }]),
        metricsTable('Antworten', METRICS_CHAT, groups)));
  };
  const openEval = async () => {
    if (state.evalSets) return;
    const sel = $('eval-set');
    try {
      const d = await api('GET', '/evals');
      state.evalSets = arr(d && d.sets).filter(isObj);
      const keep = sel.value;
      sel.replaceChildren(...state.evalSets.map((s) => h('option', {
        value: str(s.name),
        text: `${str(s.name)} (${num(s.cases) != null ? s.cases : '?'} Fälle${num(s.conversations) ? `, ${s.conversations} Gespräche` : ''})`,
      })));
      if (keep) sel.value = keep;
      $('eval-run').disabled = !state.evalSets.length;
      if (!state.evalSets.length) showError($('eval-error'), 'Der Server kennt keine Eval-Sets.');
    } catch (e) {
      if (e.status !== 401) showError($('eval-error'), `Eval-Sets nicht geladen: ${msgOf(e)}`);
    }
  };
  $('eval-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (state.evalBusy) return;
    const name = $('eval-set').value;
    if (!name) return;
    state.evalBusy = true;
    showError($('eval-error'), '');
    const btn = $('eval-run');
    btn.disabled = true;
    $('eval-set').disabled = true;
    const st = $('eval-status');
    const started = Date.now();
    const tick = () => {
      const s = Math.round((Date.now() - started) / 1000);
      st.replaceChildren(h('span', { class: 'spinner', 'aria-hidden': 'true' }), ` Auswertung „${name}“ läuft … ${s} s (bis zu einer Minute)`);
    };
    tick();
    const timer = setInterval(tick, 1000);
    try {
      const d = await api('POST', '/evals/run', { name }, { timeout: EVAL_TIMEOUT_MS });
      renderEval(isObj(d) ? d : {});
      st.textContent = `Fertig: „${name}“ in ${fmt(d && d.seconds, 1)} s.`;
    } catch (err) {
      st.textContent = '';
      if (err.status !== 401) showError($('eval-error'), `Auswertung fehlgeschlagen: ${msgOf(err)}`);
    } finally {
      clearInterval(timer);
      state.evalBusy = false;
      btn.disabled = false;
      $('eval-set').disabled = false;
    }
  });

  // ---------------------------------------------------------------------------- conversations
  let convCurrent = null;
  const loadConversations = async () => {
    const list = $('conv-list');
    $('conv-count').textContent = 'Lädt …';
    try {
      const d = await api('GET', '/conversations');
      const convs = arr(d && d.conversations).filter(isObj);
      $('conv-count').textContent = `${convs.length} Gespräche`;
      list.replaceChildren(...convs.map((c) => h('li', null, h('button', {
        type: 'button', class: 'conv-item', 'data-id': str(c.id), 'aria-current': convCurrent === c.id ? 'true' : null,
        onclick: () => openConversation(str(c.id)),
      },
      h('span', { class: 'ed-row' }, h('span', { class: 'sub', text: fmtDate(c.updated) }),
        badge(`${num(c.turns) != null ? c.turns : '?'} ${c.turns === 1 ? 'Runde' : 'Runden'}`, 'soft'),
        c.language ? badge(str(c.language).toUpperCase(), 'soft') : null),
      h('span', { class: 'conv-first', text: str(c.first_message) || '(leer)' })))));
      if (!convs.length) list.replaceChildren(h('li', { class: 'empty', text: 'Keine Gespräche.' }));
    } catch (e) {
      $('conv-count').textContent = '';
      if (e.status !== 401) list.replaceChildren(h('li', { class: 'error', text: `Nicht geladen: ${msgOf(e)}` }));
    }
  };
  $('conv-reload').addEventListener('click', loadConversations);
  $('conv-list').addEventListener('keydown', (e) => {
    const btns = Array.from($('conv-list').querySelectorAll('button'));
    const i = btns.indexOf(document.activeElement);
    if (i < 0 || !['ArrowDown', 'ArrowUp'].includes(e.key)) return;
    e.preventDefault();
    const j = Math.max(0, Math.min(btns.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)));
    btns[j].focus();
  });

  const promoteControls = (text) => {
    const box = h('div', { class: 'promote' });
    const out = h('span', { class: 'fb-msg', role: 'status' });
    const evalBtn = h('button', { type: 'button', class: 'btn tiny', text: 'Als Eval-Frage' });
    const ansBtn = h('button', { type: 'button', class: 'btn tiny', text: 'Als Beispielfrage für …', 'aria-expanded': 'false' });
    const pickId = nextId('pk');
    const listId = nextId('dl');
    const input = h('input', { type: 'text', id: pickId, list: listId, class: 'mono', placeholder: 'Eintrags-Id …', autocomplete: 'off', spellcheck: 'false' });
    const datalist = h('datalist', { id: listId });
    const okBtn = h('button', { type: 'submit', class: 'btn tiny primary', text: 'Übernehmen' });
    const cancel = h('button', { type: 'button', class: 'btn tiny', text: 'Abbrechen' });
    const pickForm = h('form', { class: 'pick', hidden: true, novalidate: true },
      h('label', { for: pickId, text: 'Eintrag:' }), input, datalist, okBtn, cancel);
    ansBtn.setAttribute('aria-controls', nextId('pf'));
    pickForm.id = ansBtn.getAttribute('aria-controls');
    const result = (d) => {
      const ok = isObj(d) && d.ok === true;
      out.className = `fb-msg ${ok ? 'ok' : 'bad'}`;
      out.textContent = str(d && d.detail) || (ok ? 'Übernommen.' : 'Nicht übernommen.');
    };
    const fail = (e) => {
      if (e.status === 401) return;
      out.className = 'fb-msg bad';
      out.textContent = `Fehler: ${msgOf(e)}`;
    };
    evalBtn.addEventListener('click', async () => {
      evalBtn.disabled = true;
      out.className = 'fb-msg';
      out.textContent = 'Wird übernommen …';
      try { result(await api('POST', '/promote', { kind: 'eval', message: text, author: auth ? auth.name : '' })); } catch (e) { fail(e); }
      evalBtn.disabled = false;
    });
    const closePick = () => {
      pickForm.hidden = true;
      ansBtn.setAttribute('aria-expanded', 'false');
      ansBtn.focus();
    };
    ansBtn.addEventListener('click', async () => {
      if (!pickForm.hidden) { closePick(); return; }
      pickForm.hidden = false;
      ansBtn.setAttribute('aria-expanded', 'true');
      input.focus();
      try {
        await loadAnswers();
        datalist.replaceChildren(...(state.answers || []).map((e) => h('option', { value: e.id, label: str(e.topic) })));
      } catch (e) { fail(e); }
    });
    cancel.addEventListener('click', closePick);
    pickForm.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); closePick(); } });
    pickForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const id = input.value.trim();
      if (!id) { input.focus(); return; }
      if (state.answers && !findEntry(id)) {
        out.className = 'fb-msg bad';
        out.textContent = `Unbekannte Id „${id}“.`;
        input.focus();
        return;
      }
      okBtn.disabled = true;
      out.className = 'fb-msg';
      out.textContent = 'Wird übernommen …';
      try {
        const d = await api('POST', '/promote', { kind: 'answer', message: text, entry: id, author: auth ? auth.name : '' });
        result(d);
        if (isObj(d) && d.ok) {
          pickForm.hidden = true;
          ansBtn.setAttribute('aria-expanded', 'false');
          state.answers = null; // the entry changed on the server: reload when the editor opens
        }
      } catch (err) { fail(err); }
      okBtn.disabled = false;
    });
    box.append(evalBtn, ansBtn, pickForm, out);
    return box;
  };
  const openConversation = async (id) => {
    convCurrent = id;
    for (const b of $('conv-list').querySelectorAll('button.conv-item')) {
      if (b.dataset.id === id) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    }
    const box = $('conv-detail');
    box.setAttribute('aria-busy', 'true');
    try {
      const d = await api('GET', `/conversations/${encodeURIComponent(id)}`);
      if (convCurrent !== id) return;
      const p = isObj(d.profile) ? d.profile : {};
      const keys = Object.keys(p).filter((k) => p[k] != null);
      const msgs = arr(d.messages).filter(isObj);
      box.replaceChildren(
        h('h3', { class: 'conv-h', tabIndex: '-1' }, 'Gespräch ', h('span', { class: 'mono', text: str(d.id) })),
        h('div', { class: 'conv-profile' }, h('p', { class: 'cap', text: 'Verstandenes Profil' }),
          keys.length ? kv(keys.map((k) => [h('span', null, PROFILE[k] || k, PROFILE[k] ? h('code', { class: 'key', text: k }) : null), h('span', { text: valueText(p[k]) })]))
            : h('p', { class: 'empty', text: 'Keine Angaben.' })),
        h('ol', { class: 'msgs' }, msgs.map((m) => {
          const user = m.role === 'user';
          return h('li', { class: `msg ${user ? 'me' : 'bot'}` },
            h('p', { class: 'msg-h' }, h('b', { text: user ? 'Besucher' : 'Berater' }), h('span', { class: 'sub', text: ` · ${fmtDate(m.created)}` })),
            user ? h('p', { class: 'msg-t', text: str(m.content) }) : plainAnswer(m.content),
            user ? promoteControls(str(m.content)) : null);
        })));
      box.querySelector('.conv-h').focus();
    } catch (e) {
      if (e.status !== 401) box.replaceChildren(h('p', { class: 'error', role: 'alert', text: `Gespräch nicht geladen: ${msgOf(e)}` }));
    } finally {
      box.removeAttribute('aria-busy');
    }
  };

  // ---------------------------------------------------------------------------- feedback view
  const renderMyFeedback = () => {
    const box = $('fb-mine');
    if (!state.feedback.length) { box.replaceChildren(h('p', { class: 'empty', text: 'Noch kein Feedback in diesem Tab.' })); return; }
    box.replaceChildren(table(['#', 'Zeit', 'Bewertung', 'Modul', 'Frage', 'Grund'], state.feedback.slice().reverse().map((f) => h('tr', null,
      h('td', { class: 'num', text: str(f.id) }), h('td', { text: TF.format(f.at) }),
      h('td', null, f.rating === 'up' ? h('span', { class: 'yes' }, icon(I.up, 'sm'), ' gut') : h('span', { class: 'no' }, icon(I.down, 'sm'), ' schlecht')),
      h('td', { class: 'mono', text: str(f.module) }), h('td', { text: f.message }), h('td', { text: f.reason || '–' }))), 'dense'));
  };
  // RFC 4180: quoted fields, doubled quotes, newlines inside quotes
  const parseCsv = (text) => {
    const rows = [];
    let row = [];
    let cell = '';
    let q = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (q) {
        if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') q = false;
        else cell += c;
      } else if (c === '"') q = true;
      else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\n' || c === '\r') {
        if (c === '\r' && text[i + 1] === '\n') i++;
        row.push(cell); rows.push(row); row = []; cell = '';
      } else cell += c;
    }
    if (cell || row.length) { row.push(cell); rows.push(row); }
    return rows.filter((r) => r.length > 1 || r[0]);
  };
  $('fb-export').addEventListener('click', async (e) => {
    e.preventDefault();
    showError($('fb-error'), '');
    try {
      const { name } = await download('/feedback.csv', 'feedback.csv');
      status(`Feedback heruntergeladen: ${name}`);
    } catch (err) {
      if (err.status !== 401) showError($('fb-error'), `Export fehlgeschlagen: ${msgOf(err)}`);
    }
  });
  $('fb-preview').addEventListener('click', async () => {
    showError($('fb-error'), '');
    try {
      const res = await api('GET', '/feedback.csv', undefined, { raw: true });
      const rows = parseCsv(await res.text());
      const box = $('fb-table');
      if (!rows.length) { box.replaceChildren(h('p', { class: 'empty', text: 'Noch kein Feedback gespeichert.' })); return; }
      const [head, ...body] = rows;
      box.replaceChildren(h('h3', { text: `Alles gespeicherte Feedback (${body.length})` }),
        table(head, body.slice().reverse().map((r) => h('tr', null, head.map((_, i) => h('td', { class: head[i] === 'rating' ? (r[i] === 'up' ? 'yes' : r[i] === 'down' ? 'no' : null) : null, text: r[i] || '' })))), 'dense csv'));
    } catch (err) {
      if (err.status !== 401) showError($('fb-error'), `Vorschau fehlgeschlagen: ${msgOf(err)}`);
    }
  });

  // ---------------------------------------------------------------------------- start
  updateSession();
  if (auth) {
    $('login-name').value = auth.name;
    enterApp();
    // the token may have been revoked since: the first call answers 401 and shows the login
    loadDocuments().catch(() => {});
  } else {
    toLogin('');
  }
})();
