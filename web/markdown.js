// The Markdown subset the advisor's answers use, shared by the widget and the staff playground:
// paragraphs, line breaks, "- " lists (two levels), **bold**, | tables |, headings, [n] markers.
// Builds DOM nodes only; every piece of server text goes in as a text node. The server puts
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
  return { inline, markdown };
};
