/**
 * The page `wavefilter serve` shows at `/`: a chat with streaming, a live view of the denoising (the
 * answer's positions per step: masked, just committed, decided) and, with a token filter, which
 * prompt rows each layer kept (a heatmap over the prompt). Plain HTML, CSS and JavaScript with no
 * build step and no third-party code; it talks to the same /v1/chat/completions any client uses,
 * asking for the `dlm.events` extension. Served with a strict Content-Security-Policy (app.ts).
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wavefilter</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header><h1>wavefilter</h1><span id="model"></span></header>
<main>
  <section id="chat">
    <div id="log" aria-live="polite"></div>
    <form id="ask">
      <textarea id="prompt" rows="5" placeholder="Ask something (a long document and a question work best)"></textarea>
      <input id="prefill" placeholder="Start the answer with... (optional prefill)">
      <div class="knobs">
        <label>cache <select id="cache"><option>dual</option><option>prefix</option><option>none</option></select></label>
        <label>filter <select id="filter"><option>none</option><option>wavefilter</option><option>snapkv</option><option>h2o</option><option>streaming</option><option>sparse-dllm</option></select></label>
        <label>budget <input id="budget" type="number" min="0.01" max="1" step="0.01" value="0.25"></label>
        <label>max tokens <input id="max" type="number" min="1" max="1024" value="64"></label>
        <label>threshold <input id="threshold" type="number" min="0.05" max="1" step="0.05" value="0.9"></label>
        <label>API key <input id="key" type="password" autocomplete="off"></label>
        <button id="send" type="submit">Send</button> <button id="stop" type="button" disabled>Stop</button>
      </div>
    </form>
  </section>
  <section id="views">
    <h2>Denoising <small id="stepinfo"></small></h2>
    <div id="canvas" class="grid"></div>
    <p class="legend"><span class="cell masked">mask</span> <span class="cell fresh">committed this step</span> <span class="cell done">decided</span></p>
    <h2>Kept prompt rows <small id="keptinfo">(with a token filter)</small></h2>
    <canvas id="heat" width="720" height="160"></canvas>
  </section>
</main>
</body>
</html>
`;

export const PAGE_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { display: flex; gap: 1em; align-items: baseline; padding: .5em 1em; background: #243b55; color: #fff; }
header h1 { font-size: 1.2em; margin: 0; }
main { display: grid; grid-template-columns: minmax(320px, 1fr) minmax(320px, 1fr); gap: 1em; padding: 1em; }
#log { min-height: 12em; max-height: 50vh; overflow: auto; background: #fff; border: 1px solid #ddd; padding: .5em; white-space: pre-wrap; }
.msg { margin: .3em 0; } .msg.user { color: #243b55; } .msg.assistant { color: #111; } .msg.error { color: #b00020; }
textarea, #prefill { width: 100%; box-sizing: border-box; margin-top: .5em; font: inherit; }
.knobs { display: flex; flex-wrap: wrap; gap: .5em; margin-top: .5em; align-items: center; }
.knobs input[type=number] { width: 5em; }
.grid { display: flex; flex-wrap: wrap; gap: 2px; background: #fff; border: 1px solid #ddd; padding: 4px; min-height: 2em; }
.cell { display: inline-block; min-width: 1.4em; padding: 0 2px; border-radius: 2px; font: 12px monospace; text-align: center; }
.cell.masked { background: #ddd; color: #888; } .cell.fresh { background: #ffb74d; } .cell.done { background: #c8e6c9; }
.legend .cell { margin-right: .5em; }
#heat { width: 100%; background: #fff; border: 1px solid #ddd; image-rendering: pixelated; }
`;

export const PAGE_JS = `
'use strict';
const $ = (id) => document.getElementById(id);
const pieces = new Map();
let controller = null;

fetch('/v1/models', { headers: auth() }).then((r) => r.json()).then((j) => { $('model').textContent = j.data ? j.data[0].id : ''; }).catch(() => {});

function auth() {
  const k = $('key').value;
  return k ? { authorization: 'Bearer ' + k } : {};
}

function line(role, text) {
  const d = document.createElement('div');
  d.className = 'msg ' + role;
  d.textContent = text;
  $('log').appendChild(d);
  $('log').scrollTop = $('log').scrollHeight;
  return d;
}

function drawCanvas(ev) {
  const grid = $('canvas');
  grid.textContent = '';
  const fresh = new Set(ev.committed);
  ev.canvas.forEach((t, i) => {
    const c = document.createElement('span');
    c.className = 'cell ' + (t === null ? 'masked' : fresh.has(i) ? 'fresh' : 'done');
    c.textContent = t === null ? '\\u00b7' : (ev.pieces && ev.pieces[i] !== undefined ? ev.pieces[i] : String(t)) || '\\u2423';
    c.title = 'position ' + i + (t === null ? ' (masked)' : ' token ' + t);
    grid.appendChild(c);
  });
  $('stepinfo').textContent = 'step ' + ev.nfe + ', block ' + (ev.block + 1) + (ev.refresh ? ' (refresh)' : '') + ', ' + ev.settled + ' settled';
  grid.dataset.steps = String(ev.nfe);
}

function drawKept(ev) {
  const cv = $('heat');
  const ctx = cv.getContext('2d');
  const L = ev.layers.length;
  const cols = Math.min(cv.width, ev.prompt_length);
  const rowH = Math.max(4, Math.floor(cv.height / L));
  ctx.clearRect(0, 0, cv.width, cv.height);
  const cw = cv.width / cols;
  ev.layers.forEach((rows, l) => {
    const hits = new Array(cols).fill(0);
    const per = ev.prompt_length / cols;
    for (const p of rows) hits[Math.min(cols - 1, Math.floor(p / per))]++;
    hits.forEach((h, c) => {
      const f = Math.min(1, h / per);
      ctx.fillStyle = 'rgba(36, 59, 85, ' + (0.08 + 0.92 * f).toFixed(3) + ')';
      if (h > 0) ctx.fillRect(c * cw, l * rowH, Math.max(1, cw), rowH - 1);
    });
  });
  $('keptinfo').textContent = 'block ' + (ev.block + 1) + ': ' + L + ' layers (rows) x ' + ev.prompt_length + ' prompt positions (columns); darker = more kept';
  cv.dataset.layers = String(L);
}

async function send(e) {
  e.preventDefault();
  const prompt = $('prompt').value.trim();
  if (!prompt) return;
  const prefill = $('prefill').value;
  const messages = [{ role: 'user', content: prompt }];
  if (prefill) messages.push({ role: 'assistant', content: prefill });
  line('user', prompt.length > 400 ? prompt.slice(0, 200) + ' [...] ' + prompt.slice(-150) : prompt);
  const out = line('assistant', prefill);
  const body = {
    messages, stream: true, max_tokens: Number($('max').value),
    dlm: { cache: $('cache').value, filter: $('filter').value, threshold: Number($('threshold').value), events: ['canvas', 'kept'],
      ...($('filter').value !== 'none' ? { budget: Number($('budget').value) } : {}) },
  };
  controller = new AbortController();
  $('send').disabled = true;
  $('stop').disabled = false;
  try {
    const res = await fetch('/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json', ...auth() }, body: JSON.stringify(body), signal: controller.signal });
    if (!res.ok) {
      const j = await res.json().catch(() => ({}));
      throw new Error((j.error && j.error.message) || res.statusText);
    }
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\\n\\n')) >= 0) {
        const ev = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
        const j = JSON.parse(ev.slice(6));
        if (j.error) throw new Error(j.error.message);
        if (j.wavefilter && j.wavefilter.type === 'step') drawCanvas(j.wavefilter);
        if (j.wavefilter && j.wavefilter.type === 'kept') drawKept(j.wavefilter);
        const d = j.choices && j.choices[0];
        if (d && d.delta && d.delta.content) out.textContent += d.delta.content;
        if (d && d.finish_reason) out.dataset.finish = d.finish_reason;
      }
    }
  } catch (err) {
    if (err.name !== 'AbortError') line('error', String(err.message || err));
  } finally {
    $('send').disabled = false;
    $('stop').disabled = true;
    out.dataset.done = '1';
  }
}

$('ask').addEventListener('submit', send);
$('stop').addEventListener('click', () => controller && controller.abort());
`;
