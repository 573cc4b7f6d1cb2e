// The Markdown subset the advisor's answers use, shared by the widget and the staff playground:
// paragraphs, line breaks, "- " lists (two levels), **bold**, | tables |, headings, [n] markers.
// Also the citation cards' open/close and the quotes marked in their passage. Builds DOM nodes only; every piece of server text goes in as a text node. The server puts
// this file into both scripts where they say `@include markdown.js` (server/routes/web.py), so
// the widget stays one file on the sites that embed it and nothing is defined globally.
const markdownRenderer = (h, tableClass) => {
  const INLINE = /\*\*(?=\S)([\s\S]*?\S)\*\*|\[(\d{1,3})\]/g;
  const inline = (s, parent, cite, glue = true) => {
    let last = 0;
    for (const m of s.matchAll(INLINE)) {
      if (m.index > last) {
        const t = s.slice(last, m.index);
        // a marker stays on the line of the word before it
        parent.append(glue && m[2] != null ? t.replace(/ $/, '\u00a0') : t);
      }
      if (m[1] != null) {
        const b = h('strong');
        inline(m[1], b, cite, glue);
        parent.append(b);
      } else {
        parent.append(cite(Number(m[2])));
      }
      last = m.index + m[0].length;
    }
    if (last < s.length) parent.append(s.slice(last));
  };
  const isRow = (s) => /^\s*\|.*\|\s*$/.test(s);
  const isSep = (s) => /^\s*\|(\s*:?-+:?\s*\|)+\s*$/.test(s || '');
  const cells = (s) => s.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
  const ITEM = /^( *)[-*•] +(.*)$/;
  const HEADING = /^ {0,3}#{1,6} +(.*?)#*\s*$/;
  const tableAt = (L, i) => isRow(L[i]) && isSep(L[i + 1]);

  const markdown = (src, parent, cite) => {
    const L = str(src).replace(/\r\n?/g, '\n').split('\n');
    let wide = false;
    let i = 0;
    while (i < L.length) {
      const line = L[i];
      if (!line.trim()) { i++; continue; }
      if (tableAt(L, i)) {
        const head = cells(L[i]);
        i += 2;
        const tr = h('tr');
        for (const c of head) { const th = h('th', { scope: 'col' }); inline(c, th, cite, false); tr.append(th); }
        const tbody = h('tbody');
        while (i < L.length && isRow(L[i])) {
          const row = cells(L[i++]);
          const r = h('tr');
          for (let k = 0; k < head.length; k++) { const td = h('td'); inline(row[k] || '', td, cite, false); r.append(td); }
          tbody.append(r);
        }
        parent.append(h('div', { class: tableClass }, h('table', null, h('thead', null, tr), tbody)));
        wide = true;
        continue;
      }
      if (ITEM.test(line)) {
        const ul = h('ul');
        let top = null;
        let sub = null;
        let li = null;
        while (i < L.length) {
          const s = L[i];
          const m = ITEM.exec(s);
          if (m) {
            li = h('li');
            inline(m[2], li, cite);
            if (m[1].length >= 2 && top) {
              if (!sub) { sub = h('ul'); top.append(sub); }
              sub.append(li);
            } else {
              ul.append(li);
              top = li;
              sub = null;
            }
            i++;
          } else if (!s.trim() && ITEM.test(L[i + 1] || '')) {
            i++; // a blank line between two items keeps one list
          } else if (s.trim() && /^\s/.test(s) && li && !isRow(s)) {
            li.append(h('br'));
            inline(s.trim(), li, cite);
            i++;
          } else break;
        }
        parent.append(ul);
        continue;
      }
      const hd = HEADING.exec(line);
      if (hd) {
        const b = h('strong');
        inline(hd[1], b, cite);
        parent.append(h('p', null, b));
        i++;
        continue;
      }
      const p = h('p');
      let first = true;
      while (i < L.length && L[i].trim() && !ITEM.test(L[i]) && !tableAt(L, i) && !HEADING.test(L[i])) {
        if (!first) p.append(h('br'));
        inline(L[i].trim(), p, cite);
        first = false;
        i++;
      }
      parent.append(p);
    }
    return wide;
  };

  // One open citation card per answer: a [n] button opens its card (made by ``makeCard``),
  // a second click or the card's close button closes it, and the focus goes back.
  const citationCards = (root, idBase, makeCard) => {
    let open = null;
    const buttons = (n) => root.querySelectorAll(`button.cite[data-n="${n}"]`);
    const close = (refocus) => {
      if (!open) return;
      const n = open.n;
      open.card.remove();
      open = null;
      for (const b of buttons(n)) { b.setAttribute('aria-expanded', 'false'); b.removeAttribute('aria-controls'); }
      if (refocus) { const b = buttons(n)[0]; if (b) b.focus(); }
    };
    // the card just opened, or null when the click closed it
    return (c) => {
      const same = open && open.n === c.n;
      close(false);
      if (same) return null;
      const id = `${idBase}-c${c.n}`;
      const card = makeCard(c, id, () => close(true));
      root.append(card);
      open = { n: c.n, card };
      for (const b of buttons(c.n)) { b.setAttribute('aria-expanded', 'true'); b.setAttribute('aria-controls', id); }
      return card;
    };
  };

  // quotes marked inside their passage; a quote whose spacing differs still matches
  const findQuote = (text, q, from) => {
    let at = text.indexOf(q, from);
    if (at < 0) at = text.indexOf(q);
    if (at >= 0) return [at, at + q.length];
    const words = q.split(/\s+/).filter(Boolean).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    if (!words.length || words.length > 200) return null;
    try {
      const m = new RegExp(words.join('[\\s*|_]+'), 'i').exec(text);
      return m ? [m.index, m.index + m[0].length] : null;
    } catch (e) {
      return null;
    }
  };
  const highlight = (text, quotes, into) => {
    const spans = [];
    let from = 0;
    for (const q of quotes) {
      if (!q) continue;
      const s = findQuote(text, q, from);
      if (!s) continue;
      spans.push(s);
      from = s[1];
    }
    spans.sort((a, b) => a[0] - b[0]);
    let pos = 0;
    for (const [a, b] of spans) {
      if (b <= pos) continue;
      const s = Math.max(a, pos);
      if (s > pos) into.append(text.slice(pos, s));
      into.append(h('mark', { text: text.slice(s, b) }));
      pos = b;
    }
    if (pos < text.length) into.append(text.slice(pos));
    return spans.length;
  };
  return { inline, markdown, citationCards, highlight };
};
