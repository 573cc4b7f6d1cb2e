/*! IT-Berater chat widget 1.0.0 — vanilla JS, no dependencies, no third-party requests.
 * Embed: <script src="https://advisor.example/widget.js" data-api="https://advisor.example" defer></script>
 * Everything lives in one open Shadow DOM; styles come from a constructable stylesheet, so the
 * widget runs under a strict CSP (no 'unsafe-inline'). Server text is only ever set as text. */
(() => {
  'use strict';
  if (window.ITAdvisorWidget) return;
  if (!window.CSSStyleSheet || !CSSStyleSheet.prototype.replaceSync || !('adoptedStyleSheets' in Document.prototype)) return;

  const VERSION = '1.0.0';
  const KEY = 'itadvisor.session';
  const MAX = 2000;
  const SID = /^[0-9a-f]{32}$/;
  const NARROW = '(max-width: 479.98px)';
  const STREAM_IDLE_MS = 45000; // the server pings every 15 s
  const JSON_TIMEOUT_MS = 90000;

  // ---------------------------------------------------------------------------- strings
  const STRINGS = {
    de: {
      title: 'IT-Berater',
      open: 'IT-Berater öffnen',
      close: 'Chat schließen',
      newChat: 'Neues Gespräch',
      log: 'Gesprächsverlauf',
      label: 'Ihre Frage',
      placeholder: 'Frage eingeben …',
      send: 'Senden',
      you: 'Sie',
      privacy: 'Ihre Nachrichten werden nur zur Beantwortung verarbeitet. Vor Ihrer ersten Nachricht wird nichts im Browser gespeichert.',
      privacyLink: 'Datenschutzhinweis',
      greeting: 'Hallo! Ich beantworte Fragen zu IT-Outsourcing im Mittelstand: was Sie intern behalten und was Sie auslagern sollten, und was das kostet. Beschreiben Sie gern Ihr Unternehmen (Mitarbeiter, PCs, eigene IT).',
      starters: ['Was kostet IT-Outsourcing?', 'Was sollten wir auslagern?', 'Was ist ein Key-User?'],
      suggestions: 'Vorschläge',
      typing: 'Der IT-Berater schreibt …',
      continued: 'Ihr bisheriges Gespräch wird fortgesetzt. Frühere Nachrichten werden hier nicht erneut angezeigt.',
      expired: 'Ihr bisheriges Gespräch ist abgelaufen. Ich habe ein neues Gespräch begonnen.',
      unreachable: 'Der IT-Berater ist gerade nicht erreichbar. Bitte versuchen Sie es in einigen Minuten erneut.',
      rate: (n) => n ? `Bitte kurz warten – Sie können in ${n} ${n === 1 ? 'Sekunde' : 'Sekunden'} die nächste Frage stellen.` : 'Bitte kurz warten – Sie können gleich die nächste Frage stellen.',
      tooLong: `Ihre Nachricht ist zu lang (höchstens ${MAX} Zeichen).`,
      invalid: 'Die Nachricht konnte nicht verarbeitet werden',
      source: 'Quelle',
      sourceOf: (n, t) => `Quelle ${n}${t ? ': ' + t : ''}`,
      sourceOpen: 'Quelle öffnen',
      sourceClose: 'Quelle schließen',
      newTab: '(öffnet in neuem Tab)',
      passage: 'Textstelle',
      chars: 'Zeichen',
    },
    en: {
      title: 'IT advisor',
      open: 'Open IT advisor',
      close: 'Close chat',
      newChat: 'New conversation',
      log: 'Conversation',
      label: 'Your question',
      placeholder: 'Type your question …',
      send: 'Send',
      you: 'You',
      privacy: 'Your messages are processed only to answer them. Nothing is stored in your browser before your first message.',
      privacyLink: 'Privacy notice',
      greeting: 'Hello! I answer questions about IT outsourcing for small and mid-sized companies: what to keep in-house, what to outsource, and what it costs. Feel free to describe your company (employees, PCs, in-house IT).',
      starters: ['What does IT outsourcing cost?', 'What should we outsource?', 'What is a key user?'],
      suggestions: 'Suggestions',
      typing: 'The IT advisor is typing …',
      continued: 'Your conversation continues. Earlier messages are not shown again here.',
      expired: 'Your previous conversation has expired. I have started a new one.',
      unreachable: 'The IT advisor is not reachable right now. Please try again in a few minutes.',
      rate: (n) => n ? `Please wait a moment – you can ask your next question in ${n} ${n === 1 ? 'second' : 'seconds'}.` : 'Please wait a moment – you can ask your next question shortly.',
      tooLong: `Your message is too long (at most ${MAX} characters).`,
      invalid: 'The message could not be processed',
      source: 'Source',
      sourceOf: (n, t) => `Source ${n}${t ? ': ' + t : ''}`,
      sourceOpen: 'Open source',
      sourceClose: 'Close source',
      newTab: '(opens in a new tab)',
      passage: 'Passage',
      chars: 'characters',
    },
  };

  // ---------------------------------------------------------------------------- configuration
  const script = document.currentScript ||
    Array.from(document.getElementsByTagName('script')).reverse().find((s) => /widget\.js([?#].*)?$/.test(s.src || ''));
  const ds = (script && script.dataset) || {};
  const lang = /^en\b/i.test((ds.lang || '').trim()) ? 'en' : 'de';
  const T = STRINGS[lang];
  const title = (ds.title || '').trim().slice(0, 60) || T.title;
  const persist = ['none', 'tab', 'local'].includes(ds.persist) ? ds.persist : 'tab';
  const DEFAULT_ACCENT = '#0a6';
  const accent = ds.accent && window.CSS && CSS.supports('color', ds.accent.trim()) ? ds.accent.trim() : DEFAULT_ACCENT;

  const httpUrl = (value, base) => {
    try {
      const u = new URL(value, base);
      return /^https?:$/.test(u.protocol) ? u : null;
    } catch (e) {
      return null;
    }
  };
  const scriptUrl = (script && script.src && httpUrl(script.src, location.href)) || httpUrl(location.href);
  const apiUrl = ((ds.api || '').trim() && httpUrl(ds.api.trim(), location.href)) || null;
  const api = apiUrl ? (apiUrl.origin + apiUrl.pathname).replace(/\/+$/, '') : scriptUrl ? scriptUrl.origin : '';
  const privacyUrl = (ds.privacyUrl || '').trim() ? httpUrl(ds.privacyUrl.trim(), location.href) : null;

  // ---------------------------------------------------------------------------- storage
  // Nothing is written before the first answer to the first message; then only the session id.
  const storage = () => {
    try {
      return persist === 'local' ? window.localStorage : persist === 'tab' ? window.sessionStorage : null;
    } catch (e) {
      return null;
    }
  };
  const loadSid = () => {
    const s = storage();
    try {
      const v = s && s.getItem(KEY);
      return v && SID.test(v) ? v : null;
    } catch (e) {
      return null;
    }
  };
  const saveSid = (v) => {
    const s = storage();
    try {
      if (s && s.getItem(KEY) !== v) s.setItem(KEY, v);
    } catch (e) { /* storage full or blocked: the session lives in memory only */ }
  };
  const dropSid = () => {
    const s = storage();
    try {
      if (s && s.getItem(KEY) !== null) s.removeItem(KEY);
    } catch (e) { /* ignore */ }
  };

  // ---------------------------------------------------------------------------- helpers
  const h = (tag, props, ...kids) => {
    const el = document.createElement(tag);
    if (props) {
      for (const k of Object.keys(props)) {
        const v = props[k];
        if (v == null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const kid of kids) if (kid != null) el.append(kid);
    return el;
  };
  const SVGNS = 'http://www.w3.org/2000/svg';
  const icon = (d, cls) => {
    const s = document.createElementNS(SVGNS, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    s.setAttribute('focusable', 'false');
    if (cls) s.setAttribute('class', cls);
    const p = document.createElementNS(SVGNS, 'path');
    p.setAttribute('d', d);
    s.append(p);
    return s;
  };
  const I = {
    chat: 'M5 5.5h14a1.5 1.5 0 0 1 1.5 1.5v9a1.5 1.5 0 0 1-1.5 1.5h-8.5L6 21v-3.5H5A1.5 1.5 0 0 1 3.5 16V7A1.5 1.5 0 0 1 5 5.5zM8 10h8M8 13.5h5',
    x: 'M6 6l12 12M18 6L6 18',
    send: 'M12 19V5M6 11l6-6 6 6',
    plus: 'M12 5v14M5 12h14',
    ext: 'M14 4h6v6M20 4l-9 9M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5',
    alert: 'M12 8v5M12 16.5v.5M10.3 3.9L2.6 17.5A2 2 0 0 0 4.3 20.5h15.4a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z',
    bot: 'M12 3.5v3M7 7.5h10a3 3 0 0 1 3 3v5a3 3 0 0 1-3 3H7a3 3 0 0 1-3-3v-5a3 3 0 0 1 3-3zM9.5 12.5v.5M14.5 12.5v.5',
  };
  const uuid = () => {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const x = Array.from(b, (v) => v.toString(16).padStart(2, '0')).join('');
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  };
  const str = (v) => (typeof v === 'string' ? v : v == null ? '' : String(v));

  // colours: the accent as given for graphics (>= 3:1 on white), darkened for text (>= 4.5:1)
  const lum = (c) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const onWhite = (c) => 1.05 / (lum(c) + 0.05);
  const darken = (c, min) => {
    for (let i = 0; i < 60 && onWhite(c) < min; i++) c = c.map((v) => v * 0.94);
    return `rgb(${c.map(Math.round).join(',')})`;
  };
  const tint = (c, a) => `rgb(${c.map((v) => Math.round(v * a + 255 * (1 - a))).join(',')})`;

  // ---------------------------------------------------------------------------- styles
  const STYLE = `
:host{all:initial!important;display:block!important;position:fixed!important;z-index:2147483000!important}
.w{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Liberation Sans",sans-serif;font-size:15px;line-height:1.5;font-weight:400;font-style:normal;color:#1b2330;letter-spacing:normal;word-spacing:normal;text-align:left;text-transform:none;text-indent:0;text-shadow:none;white-space:normal;direction:ltr;-webkit-text-size-adjust:100%;text-size-adjust:100%;-webkit-font-smoothing:antialiased}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
h2,p,ul,table{margin:0}
button,textarea{font:inherit;color:inherit;letter-spacing:inherit;margin:0;text-transform:none}
button{cursor:pointer;background:none;border:0;padding:0;-webkit-tap-highlight-color:transparent}
:focus{outline:none}
:focus-visible{outline:3px solid var(--ad);outline-offset:2px}
.sr{position:absolute!important;width:1px;height:1px;margin:-1px;padding:0;border:0;overflow:hidden;clip:rect(0 0 0 0);clip-path:inset(50%);white-space:nowrap}
svg{display:block;flex:none;width:20px;height:20px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}
.launcher{position:fixed;right:20px;bottom:20px;width:60px;height:60px;border-radius:50%;border:2px solid transparent;background:var(--ag);color:#fff;display:flex;align-items:center;justify-content:center;box-shadow:0 8px 24px rgba(16,24,40,.24),0 2px 6px rgba(16,24,40,.14);transition:transform .15s ease,box-shadow .15s ease}
.launcher:hover{transform:translateY(-2px);box-shadow:0 12px 28px rgba(16,24,40,.28),0 3px 8px rgba(16,24,40,.14)}
.launcher:focus-visible{outline-offset:3px}
.launcher svg{width:30px;height:30px}
.launcher .ix,.open .launcher .ic{display:none}
.open .launcher .ix{display:block}
.panel{position:fixed;right:20px;bottom:96px;width:380px;height:600px;max-width:calc(100vw - 24px);max-height:calc(100vh - 116px);max-height:calc(100dvh - 116px);display:flex;flex-direction:column;background:#fff;border:1px solid rgba(16,24,40,.1);border-radius:16px;overflow:hidden;box-shadow:0 24px 64px rgba(16,24,40,.22),0 6px 16px rgba(16,24,40,.1);transform-origin:100% 100%;animation:itaw-in .18s ease-out}
@keyframes itaw-in{from{opacity:0;transform:translateY(10px) scale(.98)}}
.head{flex:none;display:flex;align-items:center;gap:8px;padding:12px 8px 12px 14px;background:var(--ad);color:#fff}
.head :focus-visible{outline-color:#fff;outline-offset:-3px}
.avatar{flex:none;width:34px;height:34px;border-radius:50%;background:rgba(255,255,255,.18);display:flex;align-items:center;justify-content:center}
.title{flex:1;min-width:0;font-size:16px;font-weight:650;line-height:1.25;color:inherit;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.hb{flex:none;height:36px;border-radius:8px;display:flex;align-items:center;justify-content:center;gap:4px;padding:0 9px 0 6px;color:#fff;font-size:14px;font-weight:500;white-space:nowrap}
.hb:hover{background:rgba(255,255,255,.16)}
.hb svg{width:17px;height:17px}
.hx{width:36px;padding:0}
.hx svg{width:22px;height:22px}
.scroll{flex:1;min-height:0;overflow-y:auto;overscroll-behavior:contain;padding:16px 14px 14px;background:#f6f7f9;scrollbar-width:thin;scrollbar-color:#c3c9d2 transparent}
.log{display:flex;flex-direction:column;gap:10px}
.pending:not(:empty){display:flex;flex-direction:column;margin-top:10px}
.msg{position:relative;max-width:86%;padding:10px 14px;border-radius:16px;border:1px solid transparent;overflow-wrap:break-word;animation:itaw-msg .16s ease-out}
@keyframes itaw-msg{from{opacity:0;transform:translateY(4px)}}
.me{align-self:flex-end;background:var(--ad);color:#fff;border-bottom-right-radius:5px;white-space:pre-wrap}
.bot{align-self:flex-start;background:#fff;border-color:#e3e6eb;border-bottom-left-radius:5px;box-shadow:0 1px 2px rgba(16,24,40,.05)}
.bot.wide{max-width:100%;align-self:stretch;padding-left:10px;padding-right:10px}
.msg.still{animation:none}
.body>*+*{margin-top:8px}
.body ul{padding-left:20px}
.body li+li,.body li>ul{margin-top:4px}
.body li::marker{color:#667085}
strong{font-weight:650}
.tbl{overflow-x:auto;border:1px solid #e3e6eb;border-radius:8px;scrollbar-width:thin;background:linear-gradient(90deg,#fff 30%,rgba(255,255,255,0)) left/24px 100% no-repeat local,linear-gradient(90deg,rgba(255,255,255,0),#fff 70%) right/24px 100% no-repeat local,radial-gradient(farthest-side at 0 50%,rgba(16,24,40,.18),transparent) left/8px 100% no-repeat scroll,radial-gradient(farthest-side at 100% 50%,rgba(16,24,40,.18),transparent) right/8px 100% no-repeat scroll}
table{border-collapse:collapse;width:100%;font-size:14px;line-height:1.4}
th,td{text-align:left;vertical-align:top;padding:5px 6px;border-bottom:1px solid #e3e6eb;hyphens:auto;-webkit-hyphens:auto}
th{font-weight:650;color:#344054;border-bottom-color:#d0d5dd}
tr:last-child td{border-bottom:0}
.cite{display:inline-flex;align-items:center;justify-content:center;min-width:22px;height:22px;padding:0 6px;margin:0 1px;border-radius:11px;background:var(--al);color:var(--ad);font-size:13px;font-weight:700;line-height:1;vertical-align:2px;white-space:nowrap}
button.cite:hover{background:var(--ad);color:#fff}
button.cite[aria-expanded=true]{background:var(--ad);color:#fff}
.card{margin-top:10px;border:1px solid #e3e6eb;border-left:3px solid var(--ag);border-radius:10px;background:#fafbfc;padding:10px 12px 10px 12px;animation:itaw-msg .16s ease-out}
.ch{display:flex;align-items:flex-start;gap:8px;font-size:14px;line-height:1.4;color:#475467}
.ch .src{flex:1;min-width:0}
.ch b{color:#1b2330;font-weight:650}
.cx{flex:none;width:28px;height:28px;margin:-5px -7px 0 0;border-radius:6px;display:flex;align-items:center;justify-content:center;color:#475467}
.cx:hover{background:#eaecf0}
.cx svg{width:16px;height:16px}
.passage{position:relative;margin:8px 0;max-height:264px;overflow-y:auto;color:#344054;white-space:pre-line;scrollbar-width:thin;background:linear-gradient(#fafbfc 30%,rgba(250,251,252,0)) top/100% 24px no-repeat local,linear-gradient(rgba(250,251,252,0),#fafbfc 70%) bottom/100% 24px no-repeat local,radial-gradient(farthest-side at 50% 0,rgba(16,24,40,.16),transparent) top/100% 8px no-repeat scroll,radial-gradient(farthest-side at 50% 100%,rgba(16,24,40,.16),transparent) bottom/100% 8px no-repeat scroll}
mark{background:#fff0a3;color:#1b2330;border-radius:2px;padding:0 1px;box-shadow:inset 0 -2px 0 #f4cf3a}
.srcl{display:inline-flex;align-items:center;gap:5px;color:var(--ad);font-weight:600;text-decoration:underline;text-underline-offset:2px;border-radius:4px}
.srcl svg{width:16px;height:16px}
.note{align-self:center;max-width:92%;text-align:center;font-size:14px;line-height:1.45;color:#475467;padding:2px 8px}
.err{align-self:stretch;display:flex;gap:8px;align-items:flex-start;background:#fef3f2;border:1px solid #fecdca;color:#912018;border-radius:12px;padding:10px 12px;animation:itaw-msg .16s ease-out}
.err svg{margin-top:2px}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin-top:12px}
.chip{border:1px solid var(--ad);background:#fff;color:var(--ad);border-radius:18px;padding:7px 13px;font-size:15px;line-height:1.3;text-align:left;font-weight:500}
.chip:hover{background:var(--al)}
.typing{display:flex;gap:5px;padding:15px 16px}
.typing i{width:7px;height:7px;border-radius:50%;background:#98a2b3;animation:itaw-dot 1.2s infinite ease-in-out}
.typing i:nth-child(2){animation-delay:.15s}
.typing i:nth-child(3){animation-delay:.3s}
@keyframes itaw-dot{0%,60%,100%{opacity:.35;transform:none}30%{opacity:1;transform:translateY(-3px)}}
.count{flex:none;padding:4px 14px 0;font-size:13px;text-align:right;color:#475467;background:#fff}
.count.over{color:#b42318;font-weight:600}
.form{flex:none;display:flex;align-items:flex-end;gap:8px;padding:10px 12px 8px;border-top:1px solid #e3e6eb;background:#fff}
textarea{flex:1;min-width:0;display:block;height:46px;min-height:46px;max-height:140px;resize:none;border:1px solid #c9ced6;border-radius:12px;padding:11px 12px;font-size:16px;line-height:1.4;background:#fff;color:#1b2330;overflow-y:auto}
textarea::placeholder{color:#667085;opacity:1}
textarea:hover{border-color:#98a2b3}
textarea:focus-visible{outline-offset:0;border-color:var(--ad)}
.send{flex:none;width:46px;height:46px;border-radius:50%;border:2px solid transparent;background:var(--ad);color:#fff;display:flex;align-items:center;justify-content:center;transition:opacity .15s}
.send svg{width:22px;height:22px;stroke-width:2.4}
.send[aria-disabled=true]{opacity:.5;cursor:default}
.privacy{flex:none;padding:0 16px 10px;font-size:13px;line-height:1.4;color:#475467;background:#fff;text-align:center}
.privacy a{color:var(--ad);text-decoration:underline;text-underline-offset:2px;border-radius:3px;white-space:nowrap}
@media (max-width:479.98px){
.panel{top:0;left:0;right:0;bottom:auto;width:100%;max-width:none;height:100vh;height:100dvh;max-height:none;border:0;border-radius:0;animation:none}
.launcher{right:16px;bottom:16px}
.open .launcher{display:none}
.msg{max-width:90%}
.head{padding-top:max(12px,env(safe-area-inset-top))}
.privacy{padding-bottom:max(10px,env(safe-area-inset-bottom))}
}
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}
@media (forced-colors:active){.cite,.chip,.hb,.cx{border:1px solid ButtonText}mark{forced-color-adjust:none}}
`;

  // ---------------------------------------------------------------------------- Markdown subset
  /* @include markdown.js */
  const { markdown, citationCards, highlight } = markdownRenderer(h, 'tbl');

  // ---------------------------------------------------------------------------- SSE parser
  // event:/data: lines, a blank line ends an event; \r\n, \r and \n all end a line.
  const sseParser = (onEvent) => {
    let buf = '';
    let name = '';
    let data = [];
    const line = (l) => {
      if (l === '') {
        if (data.length) onEvent(name || 'message', data.join('\n'));
        name = '';
        data = [];
        return;
      }
      if (l[0] === ':') return;
      const c = l.indexOf(':');
      const field = c < 0 ? l : l.slice(0, c);
      let value = c < 0 ? '' : l.slice(c + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'event') name = value;
      else if (field === 'data') data.push(value);
    };
    return (chunk, final) => {
      buf += chunk;
      const re = /\r\n|\r|\n/g;
      let start = 0;
      let m;
      while ((m = re.exec(buf))) {
        if (m[0] === '\r' && m.index === buf.length - 1 && !final) break; // maybe half of \r\n
        line(buf.slice(start, m.index));
        start = re.lastIndex;
      }
      buf = buf.slice(start);
      if (final) {
        if (buf) line(buf);
        line('');
        buf = '';
      }
    };
  };

  // ---------------------------------------------------------------------------- the widget
  function build() {
    const host = document.createElement('it-advisor-widget');
    const root = host.attachShadow({ mode: 'open' });
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);

    const w = h('div', { class: 'w', lang });
    const launcher = h('button', { type: 'button', class: 'launcher', 'aria-label': T.open, 'aria-expanded': 'false', 'aria-controls': 'itaw-panel' },
      icon(I.chat, 'ic'), icon(I.x, 'ix'));
    const newBtn = h('button', { type: 'button', class: 'hb' }, icon(I.plus), T.newChat);
    const closeBtn = h('button', { type: 'button', class: 'hb hx', 'aria-label': T.close }, icon(I.x));
    const log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': T.log });
    const pending = h('div', { class: 'pending' });
    const chipsBox = h('div', { class: 'chips-box' });
    const scroll = h('div', { class: 'scroll' }, log, pending, chipsBox);
    const ta = h('textarea', { id: 'itaw-input', rows: '1', placeholder: T.placeholder, autocomplete: 'off', enterkeyhint: 'send', 'aria-describedby': 'itaw-privacy' });
    const count = h('div', { class: 'count', hidden: true, 'aria-hidden': 'true' });
    const sendBtn = h('button', { type: 'submit', class: 'send', 'aria-label': T.send }, icon(I.send));
    const form = h('form', { class: 'form', novalidate: true }, h('label', { for: 'itaw-input', class: 'sr', text: T.label }), ta, sendBtn);
    const privacy = h('p', { class: 'privacy', id: 'itaw-privacy' }, T.privacy);
    if (privacyUrl) {
      privacy.append(' ', h('a', { href: privacyUrl.href, target: '_blank', rel: 'noopener noreferrer' },
        T.privacyLink, h('span', { class: 'sr', text: ` ${T.newTab}` })));
    }
    const panel = h('div', { class: 'panel', id: 'itaw-panel', role: 'dialog', 'aria-label': title, hidden: true },
      h('div', { class: 'head' },
        h('span', { class: 'avatar', 'aria-hidden': 'true' }, icon(I.bot)),
        h('h2', { class: 'title', text: title }),
        newBtn, closeBtn),
      scroll, count, form, privacy);
    w.append(launcher, panel);
    root.append(w);
    document.body.append(host);

    // accent colours (validated above with CSS.supports), set through the CSSOM of a second
    // constructable sheet: no style attribute on the wrapper
    const vars = new CSSStyleSheet();
    vars.replaceSync('.w{}');
    const rule = vars.cssRules[0].style;
    rule.setProperty('--ag', accent);
    rule.setProperty('--ad', accent);
    rule.setProperty('--al', '#eef2f6');
    let rgb = null;
    try {
      const g = document.createElement('canvas').getContext('2d');
      g.fillStyle = '#000';
      g.fillStyle = accent;
      const v = String(g.fillStyle);
      const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(v);
      const fn = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)/.exec(v);
      if (hex) rgb = hex.slice(1).map((x) => parseInt(x, 16));
      else if (fn) rgb = fn.slice(1).map(Number);
    } catch (e) { /* keep the accent as given */ }
    if (rgb) {
      rule.setProperty('--ag', onWhite(rgb) >= 3 ? `rgb(${rgb.join(',')})` : darken(rgb, 3));
      rule.setProperty('--ad', darken(rgb, 4.8));
      rule.setProperty('--al', tint(rgb, 0.12));
    }
    root.adoptedStyleSheets = [sheet, vars];

    // -------------------------------------------------------------------------- state
    let sid = loadSid();
    let isOpen = false;
    let started = false;
    let busy = false;
    let conv = 0; // bumped by "Neues Gespräch": answers to an older conversation are dropped
    let ctrl = null;
    let fresh = null; // a session the server opened for an answer still in flight
    let seq = 0;
    let atBottom = true;

    const setSid = (v) => {
      if (typeof v !== 'string' || !SID.test(v)) return;
      sid = v;
      saveSid(v);
    };
    const setBusy = (b) => {
      busy = b;
      sendBtn.setAttribute('aria-disabled', b ? 'true' : 'false');
      log.setAttribute('aria-busy', b ? 'true' : 'false');
    };
    setBusy(false);

    // -------------------------------------------------------------------------- scrolling
    scroll.addEventListener('scroll', () => {
      atBottom = scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight < 48;
    }, { passive: true });
    const follow = (force) => {
      if (force || atBottom) {
        scroll.scrollTop = scroll.scrollHeight;
        atBottom = true;
      }
    };
    const reveal = (el) => {
      const top = el.getBoundingClientRect().top - scroll.getBoundingClientRect().top + scroll.scrollTop;
      const bottom = top + el.offsetHeight;
      if (bottom > scroll.scrollTop + scroll.clientHeight) scroll.scrollTop = Math.min(top - 12, bottom - scroll.clientHeight + 12);
      else if (top < scroll.scrollTop) scroll.scrollTop = top - 12;
    };

    // -------------------------------------------------------------------------- phone keyboard
    const vv = window.visualViewport;
    const mq = window.matchMedia(NARROW);
    const fit = () => {
      if (isOpen && mq.matches && vv) {
        panel.style.height = `${Math.round(vv.height)}px`;
        panel.style.top = `${Math.round(vv.offsetTop)}px`;
        follow(false);
      } else {
        panel.style.removeProperty('height');
        panel.style.removeProperty('top');
      }
    };
    if (vv) {
      vv.addEventListener('resize', fit);
      vv.addEventListener('scroll', fit);
    }
    if (mq.addEventListener) mq.addEventListener('change', fit);

    // -------------------------------------------------------------------------- messages
    const note = (text) => { log.append(h('p', { class: 'note', text })); follow(true); };
    const clearErrors = () => { for (const e of log.querySelectorAll('.err')) e.remove(); };
    const showError = (text) => {
      clearErrors();
      log.append(h('div', { class: 'err' }, icon(I.alert), h('span', { text })));
      follow(true);
    };
    const chips = (list) => {
      chipsBox.replaceChildren();
      const items = (Array.isArray(list) ? list : []).map(str).map((s) => s.trim()).filter(Boolean).slice(0, 4);
      if (!items.length) return;
      const g = h('div', { class: 'chips', role: 'group', 'aria-label': T.suggestions });
      for (const s of items) {
        g.append(h('button', {
          type: 'button', class: 'chip', text: s,
          onclick: () => { if (!busy) { ta.focus(); send(s); } },
        }));
      }
      chipsBox.append(g);
    };
    const userMsg = (text) => {
      const el = h('div', { class: 'msg me' }, h('span', { class: 'sr', text: `${T.you}: ` }), text);
      log.append(el);
      follow(true);
      return el;
    };

    const sourceHref = (c) => {
      const doc = str(c.doc_id);
      if (!doc) return null;
      let u = `${api}/sources/${encodeURIComponent(doc)}`;
      const pid = str(c.passage_id);
      if (pid) u += `?passage=${encodeURIComponent(pid)}`;
      const url = httpUrl(`${u}#passage`);
      const base = httpUrl(`${api}/sources/`);
      // only ever the advisor's own /sources/ pages
      if (!url || !base || url.origin !== base.origin || !url.pathname.startsWith(base.pathname) || url.pathname === base.pathname) return null;
      return url.href;
    };
    const citationCard = (c, id, onClose) => {
      const text = str(c.text);
      let quotes = Array.isArray(c.quotes) ? c.quotes.map(str).filter(Boolean) : [];
      if (!quotes.length && str(c.quote)) quotes = str(c.quote).split(' … ');
      const src = h('span', { class: 'src' }, h('b', { text: str(c.title) || T.source }));
      if (str(c.heading)) src.append(' › ', str(c.heading));
      const passage = h('p', { class: 'passage' });
      if (text) highlight(text, quotes, passage);
      else passage.append(h('mark', { text: quotes.join(' … ') }));
      const card = h('div', { class: 'card', id, role: 'group', 'aria-label': T.sourceOf(c.n, str(c.title)) },
        h('div', { class: 'ch' }, src, h('button', { type: 'button', class: 'cx', 'aria-label': T.sourceClose, onclick: onClose }, icon(I.x))),
        passage);
      const href = sourceHref(c);
      if (href) {
        card.append(h('a', { class: 'srcl', href, target: '_blank', rel: 'noopener noreferrer' },
          T.sourceOpen, h('span', { class: 'sr', text: ` ${T.newTab}` }), icon(I.ext)));
      }
      return card;
    };

    // An advisor message; cites === null while streaming (markers are not yet buttons).
    const botMsg = (md, cites) => {
      const id = `itaw-m${++seq}`;
      const el = h('div', { class: 'msg bot' }, h('span', { class: 'sr', text: `${title}: ` }));
      const body = h('div', { class: 'body' });
      const byN = new Map();
      for (const c of cites || []) if (c && typeof c === 'object' && Number.isInteger(c.n)) byN.set(c.n, c);
      const openCard = citationCards(el, id, citationCard);
      const toggle = (c) => {
        const card = openCard(c);
        if (!card) return;
        const p = card.querySelector('.passage');
        if (p.scrollHeight > p.clientHeight + 1) {
          p.tabIndex = 0;
          p.setAttribute('aria-label', T.passage);
          const mk = p.querySelector('mark');
          if (mk && mk.offsetTop + mk.offsetHeight > p.clientHeight - 8) p.scrollTop = Math.max(0, mk.offsetTop - 32);
        }
        reveal(card);
      };
      const cite = (n) => {
        const c = byN.get(n);
        if (cites === null) return h('span', { class: 'cite', 'aria-hidden': 'true', text: String(n) });
        if (!c) return `[${n}]`;
        return h('button', {
          type: 'button', class: 'cite', 'data-n': n, 'aria-expanded': 'false',
          'aria-label': T.sourceOf(n, str(c.title)), text: String(n), onclick: () => toggle(c),
        });
      };
      if (markdown(md, body, cite)) el.classList.add('wide');
      el.append(body);
      return el;
    };

    // -------------------------------------------------------------------------- open / close
    const greet = () => {
      log.append(botMsg(T.greeting, []));
      chips(T.starters);
    };
    const open = () => {
      if (isOpen) return;
      isOpen = true;
      panel.hidden = false;
      w.classList.add('open');
      launcher.setAttribute('aria-expanded', 'true');
      if (!started) {
        started = true;
        if (sid) note(T.continued);
        else greet();
      }
      fit();
      follow(true);
      ta.focus({ preventScroll: true });
    };
    const close = () => {
      if (!isOpen) return;
      const hadFocus = document.activeElement === host;
      isOpen = false;
      panel.hidden = true;
      w.classList.remove('open');
      launcher.setAttribute('aria-expanded', 'false');
      fit();
      if (hadFocus) launcher.focus();
    };
    launcher.addEventListener('click', () => (isOpen ? close() : open()));
    closeBtn.addEventListener('click', close);
    const focusables = () => Array.from(panel.querySelectorAll('button, a[href], textarea, [tabindex]:not([tabindex="-1"])'))
      .filter((el) => !el.disabled && el.getClientRects().length);
    w.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && isOpen && !e.isComposing) {
        e.preventDefault();
        close();
      }
    });
    panel.addEventListener('keydown', (e) => {
      if (e.key !== 'Tab') return;
      const f = focusables();
      if (!f.length) return;
      const cur = root.activeElement;
      const inside = cur && panel.contains(cur);
      if (e.shiftKey && (!inside || cur === f[0])) {
        e.preventDefault();
        f[f.length - 1].focus();
      } else if (!e.shiftKey && (!inside || cur === f[f.length - 1])) {
        e.preventDefault();
        f[0].focus();
      }
    });

    // -------------------------------------------------------------------------- the form
    const autosize = () => {
      ta.style.height = 'auto';
      ta.style.height = `${Math.min(ta.scrollHeight + 2, 140)}px`;
      const n = ta.value.length;
      count.hidden = n <= MAX - 200;
      count.textContent = `${n} / ${MAX} ${T.chars}`;
      count.classList.toggle('over', n > MAX);
    };
    ta.addEventListener('input', autosize);
    ta.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submit();
      }
    });
    ta.addEventListener('focus', () => { if (mq.matches) setTimeout(fit, 300); });
    form.addEventListener('submit', (e) => { e.preventDefault(); submit(); });
    const submit = () => { if (!busy) send(ta.value); };

    newBtn.addEventListener('click', () => {
      conv++;
      if (ctrl) ctrl.abort();
      ctrl = null;
      setBusy(false);
      for (const old of new Set([sid, fresh])) {
        if (!old) continue;
        fetch(`${api}/api/sessions/${encodeURIComponent(old)}`, { method: 'DELETE', credentials: 'omit', mode: 'cors', keepalive: true })
          .catch(() => {});
      }
      sid = null;
      fresh = null;
      dropSid();
      log.replaceChildren();
      pending.replaceChildren();
      greet();
      ta.focus();
    });

    // -------------------------------------------------------------------------- sending
    const send = async (raw) => {
      const text = str(raw).replace(/^\s*\n|\s+$/g, '');
      if (!text.trim() || busy) return;
      if (text.length > MAX) { showError(T.tooLong); return; }
      clearErrors();
      chips([]);
      if (ta.value === raw) { ta.value = ''; autosize(); }
      const mine = userMsg(text);
      await ask(text, mine, false);
    };

    const typing = () => {
      pending.replaceChildren(h('div', { class: 'msg bot' },
        h('span', { class: 'sr', text: T.typing }), h('span', { class: 'typing', 'aria-hidden': 'true' }, h('i'), h('i'), h('i'))));
      follow(true);
    };

    const errorOf = async (res) => {
      let detail = '';
      try {
        const d = await res.json();
        if (d && typeof d.detail === 'string') detail = d.detail;
        else if (d && Array.isArray(d.detail)) detail = d.detail.map((x) => str(x && x.msg)).filter(Boolean).join('; ');
      } catch (e) { /* no JSON body */ }
      const ra = res.headers.get('Retry-After');
      let retry = null;
      if (ra && /^\s*\d+\s*$/.test(ra)) retry = Math.max(1, parseInt(ra, 10));
      else if (ra && !isNaN(Date.parse(ra))) retry = Math.max(1, Math.ceil((Date.parse(ra) - Date.now()) / 1000));
      return { status: res.status, detail: detail.slice(0, 400), retry };
    };
    const HANDLED = new Set([400, 404, 413, 422, 429]);
    const headers = (accept, key) => ({ 'Content-Type': 'application/json', Accept: accept, 'Idempotency-Key': key });

    const finish = (answer, cites, followUp, session, recommendation, streamed) => {
      pending.replaceChildren();
      const el = botMsg(answer, Array.isArray(cites) ? cites : []);
      if (recommendation) el.classList.add('rec');
      if (streamed) el.classList.add('still');
      log.append(el); // into the live region once, complete
      chips(followUp);
      setSid(session);
      follow(false);
    };

    const viaStream = async (body, key, gen) => {
      const ac = new AbortController();
      ctrl = ac;
      let timer = 0;
      const arm = () => { clearTimeout(timer); timer = setTimeout(() => ac.abort(), STREAM_IDLE_MS); };
      arm();
      let res;
      try {
        res = await fetch(`${api}/api/chat/stream`, {
          method: 'POST', headers: headers('text/event-stream', key), body,
          credentials: 'omit', mode: 'cors', cache: 'no-store', signal: ac.signal,
        });
      } catch (e) {
        clearTimeout(timer);
        return { fallback: true };
      }
      if (HANDLED.has(res.status)) { clearTimeout(timer); return errorOf(res); }
      if (res.status !== 200 || !res.body || !/text\/event-stream/i.test(res.headers.get('Content-Type') || '')) {
        clearTimeout(timer);
        try { if (res.body) res.body.cancel(); } catch (e) { /* ignore */ }
        return { fallback: true };
      }
      const st = { meta: null, text: '', cites: null, done: null, failed: false };
      let bubble = null;
      let frame = 0;
      const paint = () => {
        frame = 0;
        if (gen !== conv || st.done || !st.text) return;
        const el = botMsg(st.text, null);
        if (bubble) {
          el.classList.add('still');
          bubble.replaceWith(el);
        } else pending.replaceChildren(el);
        bubble = el;
        follow(false);
      };
      const onEvent = (name, data) => {
        let d;
        try { d = JSON.parse(data); } catch (e) { st.failed = true; return; }
        if (!d || typeof d !== 'object') { st.failed = true; return; }
        if (name === 'meta') {
          st.meta = d;
          if (typeof d.session_id === 'string' && SID.test(d.session_id)) fresh = d.session_id;
        }
        else if (name === 'delta') {
          st.text += str(d.text);
          if (!frame) frame = requestAnimationFrame(paint);
        } else if (name === 'citations') st.cites = Array.isArray(d.citations) ? d.citations : [];
        else if (name === 'error') st.failed = true;
        else if (name === 'done') st.done = d;
      };
      const feed = sseParser(onEvent);
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (gen !== conv) break;
          arm();
          if (done) { feed(dec.decode(), true); break; }
          feed(dec.decode(value, { stream: true }), false);
          if (st.done || st.failed) break;
        }
      } catch (e) {
        st.failed = true;
      }
      clearTimeout(timer);
      if (frame) cancelAnimationFrame(frame);
      try { reader.cancel().catch(() => {}); } catch (e) { /* ignore */ }
      if (gen !== conv) return { stale: true };
      if (st.done && !st.failed && st.meta) {
        finish(st.text, st.cites, st.meta.follow_up, st.done.session_id || st.meta.session_id, st.meta.recommendation, !!bubble);
        return { ok: true };
      }
      typing(); // drop the partial answer; the JSON route answers the same message again
      return { fallback: true };
    };

    const viaJson = async (body, key, gen) => {
      const ac = new AbortController();
      ctrl = ac;
      const timer = setTimeout(() => ac.abort(), JSON_TIMEOUT_MS);
      try {
        const res = await fetch(`${api}/api/chat`, {
          method: 'POST', headers: headers('application/json', key), body,
          credentials: 'omit', mode: 'cors', cache: 'no-store', signal: ac.signal,
        });
        if (res.status !== 200) return errorOf(res);
        const d = await res.json();
        if (gen !== conv) return { stale: true };
        if (!d || typeof d.answer !== 'string') return { status: 0 };
        finish(d.answer, d.citations, d.follow_up, d.session_id, d.recommendation);
        return { ok: true };
      } catch (e) {
        return { status: 0 };
      } finally {
        clearTimeout(timer);
      }
    };

    const ask = async (text, mine, retried) => {
      const gen = conv;
      const sent = sid;
      const body = JSON.stringify({ message: text, session_id: sent || null });
      const key = uuid(); // one key per message, reused by the JSON fallback
      setBusy(true);
      typing();
      let r = await viaStream(body, key, gen);
      if (gen !== conv || r.stale) return;
      if (r.fallback) r = await viaJson(body, key, gen);
      if (gen !== conv || r.stale) return;
      ctrl = null;
      fresh = null;
      setBusy(false);
      if (r.ok) return;
      pending.replaceChildren();
      if (r.status === 404 && sent && !retried) {
        sid = null;
        dropSid();
        note(T.expired);
        await ask(text, mine, true);
        return;
      }
      // not sent: take the visitor's bubble back and keep the text in the field
      mine.remove();
      if (!ta.value.trim()) { ta.value = text; autosize(); }
      let msg = T.unreachable;
      if (r.status === 429) msg = T.rate(r.retry);
      else if (r.status === 413) msg = T.tooLong;
      else if (r.status === 422 || r.status === 400) msg = r.detail ? `${T.invalid}: ${r.detail}` : `${T.invalid}.`;
      showError(msg);
    };

    return { open, close };
  }

  // ---------------------------------------------------------------------------- start
  let widget = null;
  let queued = null;
  const start = () => {
    if (widget || !document.body) return;
    widget = build();
    if (queued) widget[queued]();
  };
  Object.defineProperty(window, 'ITAdvisorWidget', {
    value: Object.freeze({
      open: () => { if (widget) widget.open(); else queued = 'open'; },
      close: () => { if (widget) widget.close(); else queued = null; },
      version: VERSION,
    }),
    enumerable: false, configurable: false, writable: false,
  });
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start, { once: true });
})();
