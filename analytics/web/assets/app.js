// The campaign page: one Server-Sent Events stream of snapshots
// (/api/live), drawn into tables and plain SVG charts. Every text comes
// from the server as data and is set with textContent, never as HTML.
'use strict';
(function () {
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  let currencies = {};
  let source = null;

  // ---- numbers for people ----
  function group(digits) { return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  function count(n) {
    const v = Math.round(Number(n));
    return (v < 0 ? '-' : '') + group(String(Math.abs(v)));
  }
  // money writes minor units in major units of the currency, like the
  // server's schemas.FormatMoney: $1,910,002.87, ¥44,505,250, BHD 1.234.
  function money(minor, code) {
    const v = Math.round(Number(minor));
    const neg = v < 0 ? '-' : '';
    let digits = String(Math.abs(v));
    const c = currencies[code];
    if (!c) { return (neg + group(digits) + (code ? ' ' + code : '')); }
    if (c.exponent === 0) { return neg + c.symbol + group(digits); }
    digits = digits.padStart(c.exponent + 1, '0');
    return neg + c.symbol + group(digits.slice(0, -c.exponent)) + '.' + digits.slice(-c.exponent);
  }
  function seconds(s) {
    if (s < 0) { return '–'; }
    if (s < 10) { return s.toFixed(1) + ' s'; }
    if (s < 120) { return Math.round(s) + ' s'; }
    return (s / 60).toFixed(1) + ' min';
  }
  function clock(d) { return d.toISOString().slice(11, 19) + ' UTC'; }

  // ---- DOM helpers ----
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs || {}) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function td(text, field, cls) {
    const attrs = {};
    if (field) { attrs['data-field'] = field; }
    if (cls) { attrs['class'] = cls; }
    return el('td', attrs, text);
  }
  function clear(e) { while (e.firstChild) { e.removeChild(e.firstChild); } }

  // ---- the view, kept in the URL ----
  function currentView() {
    const q = new URLSearchParams(location.search);
    return { campaign: q.get('campaign') || '', from: q.get('from') || '', to: q.get('to') || '' };
  }
  function query(v) {
    const q = new URLSearchParams();
    for (const k of ['campaign', 'from', 'to']) { if (v[k]) { q.set(k, v[k]); } }
    return q.toString();
  }
  function ensureOption(select, value, label) {
    for (const o of select.options) { if (o.value === value) { return; } }
    select.appendChild(el('option', { value: value }, label));
  }
  function showView(v) {
    ensureOption($('range'), v.from, 'Since ' + v.from);
    $('range').value = v.from;
    ensureOption($('campaign'), v.campaign, v.campaign);
    $('campaign').value = v.campaign;
  }
  function connect() {
    const v = currentView();
    showView(v);
    if (source) { source.close(); }
    setStatus('connecting', 'connecting…');
    source = new EventSource('/api/live?' + query(v));
    source.addEventListener('snapshot', (e) => render(JSON.parse(e.data)));
    source.onerror = () => setStatus('connecting', 'reconnecting…');
  }
  function pick() {
    const v = currentView();
    v.campaign = $('campaign').value;
    v.from = $('range').value;
    const q = query(v);
    history.pushState(null, '', q ? '?' + q : location.pathname);
    connect();
  }
  function setStatus(cls, text) {
    const s = $('status');
    s.className = 'status ' + cls;
    s.textContent = text;
  }

  // ---- rendering ----
  function render(snap) {
    currencies = snap.currencies || {};
    setStatus('live', 'live · updated ' + clock(new Date(snap.at)));
    const errs = $('errors');
    clear(errs);
    for (const e of snap.errors || []) { errs.appendChild(el('li', {}, e)); }
    renderCampaigns(snap.campaigns);
    renderSummary(snap.summary);
    renderCharts(snap);
    renderFunnel(snap.funnel);
    renderCoupons(snap.coupons, snap.budgets);
    renderHealth(snap.pipeline);
    document.body.setAttribute('data-rendered', snap.at);
  }

  function renderCampaigns(list) {
    const sel = $('campaign');
    for (const c of list || []) { ensureOption(sel, c, c); }
  }

  function renderSummary(rows) {
    const body = $('summary').tBodies[0];
    clear(body);
    for (const r of rows) {
      const tr = el('tr', { 'data-campaign': r.campaign, 'data-currency': r.currency });
      tr.appendChild(td(r.campaign, 'campaign'));
      tr.appendChild(td(count(r.orders), 'orders', 'num'));
      tr.appendChild(td(money(r.gmv, r.currency), 'gmv', 'num'));
      tr.appendChild(td(count(r.buyers), 'buyers', 'num'));
      tr.appendChild(td(money(r.avg_order_value, r.currency), 'avg_order_value', 'num'));
      tr.appendChild(td(count(r.coupons_issued), 'coupons_issued', 'num'));
      tr.appendChild(td(count(r.coupons_redeemed), 'coupons_redeemed', 'num'));
      body.appendChild(tr);
    }
    $('summary-empty').hidden = rows.length > 0;
  }

  // renderCharts draws, per campaign and currency, GMV per minute (line and
  // area, in major units) and orders per minute (line) over the chart window.
  function renderCharts(snap) {
    const from = Date.parse(snap.chart_from), to = Date.parse(snap.chart_to);
    $('chart-range').textContent = clock(new Date(from)) + ' – ' + clock(new Date(to));
    const series = new Map();
    for (const r of snap.per_minute) {
      const key = r.campaign + ' ' + r.currency;
      if (!series.has(key)) { series.set(key, { campaign: r.campaign, currency: r.currency, pts: [] }); }
      series.get(key).pts.push({ t: Date.parse(r.minute), orders: Number(r.orders), gmv: Number(r.gmv) });
    }
    const box = $('charts');
    clear(box);
    if (series.size === 0) { box.appendChild(el('p', { class: 'empty' }, 'No orders in this range yet.')); return; }
    for (const s of series.values()) { box.appendChild(chart(s, from, to)); }
  }

  function chart(s, from, to) {
    const W = 420, H = 140, L = 8, R = 8, T = 18, B = 18;
    const firstMin = Math.floor(from / 60000) * 60000;
    const minutes = Math.max(1, Math.ceil((to - firstMin) / 60000));
    const byMin = new Map(s.pts.map((p) => [p.t, p]));
    let maxG = 0, maxO = 0, sumG = 0, sumO = 0;
    for (const p of s.pts) { maxG = Math.max(maxG, p.gmv); maxO = Math.max(maxO, p.orders); sumG += p.gmv; sumO += p.orders; }
    const x = (i) => L + (W - L - R) * (minutes === 1 ? 0.5 : i / (minutes - 1));
    const y = (v, max) => T + (H - T - B) * (1 - (max > 0 ? v / max : 0));
    let g = '', o = '';
    for (let i = 0; i < minutes; i++) {
      const p = byMin.get(firstMin + i * 60000);
      const gv = p ? p.gmv : 0, ov = p ? p.orders : 0;
      g += (i ? ' L' : 'M') + x(i).toFixed(1) + ' ' + y(gv, maxG).toFixed(1);
      o += (i ? ' L' : 'M') + x(i).toFixed(1) + ' ' + y(ov, maxO).toFixed(1);
    }
    const area = g + ' L' + x(minutes - 1).toFixed(1) + ' ' + (H - B) + ' L' + x(0).toFixed(1) + ' ' + (H - B) + ' Z';
    const card = el('div', { class: 'chart-card', 'data-campaign': s.campaign, 'data-currency': s.currency });
    card.appendChild(el('h3', {}, s.campaign + (s.currency ? ' · ' + s.currency : '')));
    const legend = el('div', { class: 'legend' });
    legend.appendChild(el('span', { class: 'gmv' }, 'GMV ' + money(sumG, s.currency) + ' (peak ' + money(maxG, s.currency) + '/min)'));
    legend.appendChild(document.createTextNode(' · '));
    legend.appendChild(el('span', { class: 'orders' }, 'orders ' + count(sumO) + ' (peak ' + count(maxO) + '/min)'));
    card.appendChild(legend);
    const root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'GMV and orders per minute, ' + s.campaign });
    root.appendChild(svg('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }));
    root.appendChild(svg('path', { class: 'area-gmv', d: area }));
    root.appendChild(svg('path', { class: 'line-gmv', d: g }));
    root.appendChild(svg('path', { class: 'line-orders', d: o }));
    root.appendChild(svg('text', { x: L, y: 12 }, money(maxG, s.currency) + '/min'));
    root.appendChild(svg('text', { x: W - R, y: 12, 'text-anchor': 'end' }, count(maxO) + ' orders/min'));
    root.appendChild(svg('text', { x: L, y: H - 4 }, clock(new Date(firstMin)).slice(0, 5)));
    root.appendChild(svg('text', { x: W - R, y: H - 4, 'text-anchor': 'end' }, clock(new Date(to)).slice(0, 5)));
    card.appendChild(root);
    return card;
  }

  function renderFunnel(rows) {
    const box = $('funnel');
    clear(box);
    if (rows.length === 0) { box.appendChild(el('p', { class: 'empty' }, 'No shopper events in this range yet.')); return; }
    const steps = [['page_view', 'viewed'], ['add_to_cart', 'added to cart'], ['checkout_started', 'checked out'], ['orders', 'ordered']];
    for (const r of rows) {
      const card = el('div', { class: 'funnel-card', 'data-campaign': r.campaign });
      card.appendChild(el('h3', {}, r.campaign));
      const W = 420, rowH = 22, H = steps.length * rowH;
      const root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'funnel, ' + r.campaign });
      const top = Math.max(1, ...steps.map(([k]) => Number(r[k])));
      steps.forEach(([k, label], i) => {
        const v = Number(r[k]), yy = i * rowH;
        const w = Math.max(v > 0 ? 2 : 0, (W - 230) * v / top);
        root.appendChild(svg('text', { x: 0, y: yy + 15 }, label));
        root.appendChild(svg('rect', { class: 'bar-track', x: 100, y: yy + 4, width: W - 230, height: 14 }));
        root.appendChild(svg('rect', { class: 'bar', x: 100, y: yy + 4, width: w.toFixed(1), height: 14, 'data-step': k }));
        const pct = Number(r.page_view) > 0 ? ' (' + (100 * v / Number(r.page_view)).toFixed(1) + '%)' : '';
        root.appendChild(svg('text', { class: 'value', x: W - 125, y: yy + 15, 'data-step': k }, count(v) + pct));
      });
      card.appendChild(root);
      box.appendChild(card);
    }
  }

  function renderCoupons(rows, budgets) {
    const body = $('coupons').tBodies[0];
    clear(body);
    const seen = new Map();
    for (const r of rows) { seen.set(r.campaign + '\u0000' + r.rule, r); }
    const all = rows.slice();
    for (const b of budgets) {
      if (!seen.has(b.campaign + '\u0000' + b.rule)) { all.push({ campaign: b.campaign, rule: b.rule, issued: 0, issued_value: 0 }); }
    }
    all.sort((a, b) => (a.campaign + a.rule < b.campaign + b.rule ? -1 : 1));
    for (const r of all) {
      const b = budgets.find((x) => x.campaign === r.campaign && x.rule === r.rule);
      const tr = el('tr', { 'data-campaign': r.campaign, 'data-rule': r.rule });
      tr.appendChild(td(r.campaign));
      tr.appendChild(td(r.rule));
      tr.appendChild(td(count(r.issued), 'issued', 'num'));
      tr.appendChild(td(b ? money(r.issued_value, b.currency) : count(r.issued_value) + ' (minor units)', 'issued_value', 'num'));
      const cell = td('', 'budget');
      let used = -1;
      if (b && b.coupons > 0) { used = Math.max(used, Number(r.issued) / b.coupons); }
      if (b && b.value > 0) { used = Math.max(used, Number(r.issued_value) / b.value); }
      if (used < 0) {
        cell.textContent = b ? 'no budget' : '–';
      } else {
        const root = svg('svg', { viewBox: '0 0 160 14', class: 'budget-bar', role: 'img', 'aria-label': 'budget used' });
        root.appendChild(svg('rect', { class: 'bar-track', x: 0, y: 2, width: 100, height: 10 }));
        const cls = used >= 1 ? 'bar-full' : used >= 0.8 ? 'bar-warn' : 'bar';
        root.appendChild(svg('rect', { class: cls, x: 0, y: 2, width: (100 * Math.min(used, 1)).toFixed(1), height: 10 }));
        root.appendChild(svg('text', { class: 'value', x: 106, y: 12 }, (100 * used).toFixed(1) + '%'));
        cell.appendChild(root);
      }
      tr.appendChild(cell);
      body.appendChild(tr);
    }
  }

  function tile(label, value, key) {
    const t = el('div', { class: 'tile', 'data-key': key });
    t.appendChild(el('div', { class: 'label' }, label));
    t.appendChild(el('div', { class: 'value' }, value));
    return t;
  }

  function renderHealth(p) {
    const tiles = $('health-tiles'), body = $('groups').tBodies[0];
    clear(tiles);
    clear(body);
    $('health-none').hidden = !!p;
    $('groups').hidden = !p;
    if (!p) { return; }
    tiles.appendChild(tile('Events in', count(p.events_per_second) + ' /s', 'events_per_second'));
    tiles.appendChild(tile('Sink freshness (event → queryable)', '≤ ' + seconds(p.sink_lag_seconds), 'sink_lag_seconds'));
    tiles.appendChild(tile('Last insert', p.last_insert_seconds < 0 ? 'none yet' : seconds(p.last_insert_seconds) + ' ago', 'last_insert_seconds'));
    tiles.appendChild(tile('Dead letters', count(p.dead_letters), 'dead_letters'));
    tiles.appendChild(tile('Sink rejects', count(p.sink_rejects), 'sink_rejects'));
    for (const g of p.groups) {
      const tr = el('tr', { 'data-group': g.group });
      tr.appendChild(td(g.group));
      const st = td('', 'status');
      st.appendChild(el('span', { class: 'badge ' + g.status }, g.status));
      tr.appendChild(st);
      tr.appendChild(td(count(g.lag_records), 'lag_records', 'num'));
      tr.appendChild(td(seconds(g.lag_seconds), 'lag_seconds', 'num'));
      tr.appendChild(td(count(g.rate), 'rate', 'num'));
      tr.appendChild(td(g.reason || ''));
      body.appendChild(tr);
    }
    const errs = $('errors');
    for (const e of p.errors || []) { errs.appendChild(el('li', {}, 'pipeline: ' + e)); }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('campaign').addEventListener('change', pick);
    $('range').addEventListener('change', pick);
    $('picker').addEventListener('submit', (e) => e.preventDefault());
    window.addEventListener('popstate', connect);
    connect();
  });
})();
