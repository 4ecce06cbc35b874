// Live dashboard: one SSE stream of snapshots, each rendered in full (the server owns all state).
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const DASH = '—';
  const WAITING = 'waiting for the first receipts…';
  const LOST = 'Dashboard server unreachable — reconnecting…';
  const STALL_MS = 10000; // no snapshot for this long: treat the stream as dead even if the socket looks open
  const COUNT = new Intl.NumberFormat('en-CA');
  const DOLLARS = new Intl.NumberFormat('en-CA', { style: 'currency', currency: 'CAD', maximumFractionDigits: 0 });
  const ONE_DP = new Intl.NumberFormat('en-CA', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const FONT = getComputedStyle(document.documentElement).fontFamily;
  const C = { text: '#e6edf3', muted: '#93a1b0', grid: '#26313d', accent: '#4cc2ff', accent2: '#f5a623', green: '#7ee0a1' };

  const groupDigits = (digits) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');

  // Money arrives as an exact decimal string: format the string itself so no float rounding creeps in.
  function money(s) {
    const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(String(s ?? '').trim());
    return m ? `${m[1]}$${groupDigits(m[2])}.${((m[3] || '') + '00').slice(0, 2)}` : DASH;
  }

  // Quantities (on hand, units) may be decimal strings like "24" or "12.500"; drop trailing zeros.
  function qty(s) {
    const m = /^(-?)(\d+)(?:\.(\d*?)0*)?$/.exec(String(s ?? '').trim());
    return m ? `${m[1]}${groupDigits(m[2])}${m[3] ? '.' + m[3] : ''}` : DASH;
  }

  const count = (n) => (Number.isFinite(n) ? COUNT.format(n) : DASH);
  const duration = (s) => (!Number.isFinite(s) ? DASH : s < 0.9995 ? `${Math.round(s * 1000)} ms` : `${ONE_DP.format(s)} s`);

  // Read the wall-clock fields straight from the ISO text: the dashboard shows head-office time,
  // whatever zone the browser viewing it is in.
  function isoParts(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2}))?[.\d]*(Z|[+-]\d{2}:?\d{2})?/.exec(iso || '');
    if (!m) return null;
    const [y, mo, d] = [+m[1], +m[2], +m[3]];
    return {
      date: `${DAYS[new Date(Date.UTC(y, mo - 1, d)).getUTCDay()]} ${d} ${MONTHS[mo - 1]} ${y}`,
      time: m[4] ? `${m[4]}:${m[5]}:${m[6]}` : '',
      offset: m[7] ? (m[7] === 'Z' ? 'UTC' : `UTC${m[7].replace('-', '−')}`) : '',
    };
  }
  const dayLabel = (iso) => isoParts(iso)?.date ?? DASH;

  // Long product names go on two lines so the bars keep most of the chart's width; when the
  // chart is too short for two-line labels (banners showing) they are shortened instead, and the
  // hover still has the full name.
  function shorten(text, width, twoLines) {
    if (text.length <= width) return [text];
    const cut = text.lastIndexOf(' ', Math.ceil(text.length / 2) + 4);
    if (twoLines && cut > 0) return [text.slice(0, cut), text.slice(cut + 1)];
    return [`${text.slice(0, width - 1).trimEnd()}…`];
  }

  // Plotly renders a few HTML-like tags in labels; data names must show literally.
  const plotText = (s) => String(s ?? '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text != null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function row(cells) {
    const tr = document.createElement('tr');
    for (const c of cells) {
      if (c instanceof HTMLTableCellElement) tr.append(c);
      else if (c instanceof Node) { const td = el('td'); td.append(c); tr.append(td); }
      else tr.append(el('td', c[0], c[1]));
    }
    return tr;
  }

  function placeholder(tbody, text, cols) {
    const td = el('td', text, 'placeholder');
    td.colSpan = cols;
    tbody.replaceChildren(row([td]));
  }

  function banner(id, text) {
    $(id).hidden = !text;
    if (text) $(id).textContent = text;
  }

  function setConn(state) {
    const c = $('conn');
    c.dataset.state = state;
    c.textContent = { live: 'Dashboard: live', lost: LOST, connecting: 'Dashboard: connecting…' }[state];
    banner('banner-conn', state === 'lost' ? LOST : null);
    // While the stream is down the warehouse and broker states are unknown, not "still down".
    document.body.classList.toggle('conn-lost', state === 'lost');
    $('board').classList.toggle('stale-all', state === 'lost');
  }

  // One pill, one banner and the stale marking of the panels fed by that service.
  function setService(st, { pill, bannerId, name, down, cls }) {
    const ok = st?.ok === true;
    const error = st?.error || 'no details';
    const p = $(pill);
    p.dataset.ok = String(ok);
    p.textContent = ok ? `${name}: connected` : `${name}: ${down.toLowerCase()} — ${error}`;
    p.title = ok ? '' : error;
    banner(bannerId, ok ? null : `${name} ${down} — retrying: ${error}`);
    for (const e of document.querySelectorAll(cls)) e.classList.toggle('stale', !ok);
  }

  function renderKpis(s) {
    const p = s.pipeline || {};
    const clock = isoParts(s.clock?.at);
    const c = $('clock');
    if (clock) {
      c.replaceChildren(el('span', clock.date, 'date'), ' ', el('span', clock.time, 'time'));
      $('clock-zone').textContent = `· ${clock.offset}`;
    } else {
      c.replaceChildren(el('span', 'no receipts yet', 'date'), ' ', el('span', DASH, 'time'));
      $('clock-zone').textContent = '';
    }
    const t = $('transactions');
    t.textContent = count(p.transactions);
    t.dataset.value = String(Number.isFinite(p.transactions) ? p.transactions : 0);
    $('rate').textContent = Number.isFinite(p.per_second) ? `${ONE_DP.format(p.per_second)}/s` : DASH;
    $('lag').textContent = count(p.lag);
    $('lag-group').textContent = p.lag == null ? 'unknown' : `msgs · ${s.group ?? '?'}`;
    $('fresh-p50').textContent = duration(p.freshness_p50_s);
    $('fresh-p99').textContent = duration(p.freshness_p99_s);
    $('dead-letters-total').textContent = count(p.dead_letters_total);
    const gen = isoParts(s.generated_at);
    $('updated').textContent = gen ? `updated ${gen.time} ${gen.offset}` : '';
  }

  const CONFIG = { displayModeBar: false, responsive: true };

  function layout(title, xTitle, yTitle, empty) {
    const fs = parseFloat(getComputedStyle(document.documentElement).fontSize) || 14;
    const axis = (text) => ({
      title: { text, font: { size: fs * 0.85 } }, automargin: true, gridcolor: C.grid,
      zerolinecolor: C.grid, linecolor: C.grid, tickfont: { size: fs * 0.8 },
    });
    return {
      title: { text: title, x: 0.01, xanchor: 'left', y: 0.97, yanchor: 'top', yref: 'container', font: { size: fs * 1.05, color: C.text } },
      font: { family: FONT, size: fs * 0.85, color: C.muted },
      paper_bgcolor: 'rgba(0,0,0,0)', plot_bgcolor: 'rgba(0,0,0,0)',
      margin: { l: 8, r: 16, t: fs * 2.6, b: 8, pad: 2 },
      xaxis: axis(xTitle), yaxis: axis(yTitle), showlegend: false,
      hoverlabel: { font: { family: FONT } }, bargap: 0.25,
      // An empty warehouse should read as "not yet", not as a broken chart.
      ...(empty && { xaxis: { ...axis(xTitle), showticklabels: false }, yaxis: { ...axis(yTitle), showticklabels: false } }),
      annotations: empty ? [{ text: WAITING, xref: 'paper', yref: 'paper', x: 0.5, y: 0.5, showarrow: false, font: { size: fs, color: C.muted } }] : [],
    };
  }

  const draw = (id, data, lay) => Plotly.react($(id), data, lay, CONFIG).catch((err) => console.error(`dashboard: chart ${id}`, err));

  // Horizontal: thirteen province codes fit down the side of a narrow panel, not along it.
  function renderProvinces(rows) {
    const lay = layout("Today's sales by province", 'Sales (CAD)', 'Province', rows.length === 0);
    Object.assign(lay.yaxis, { type: 'category', autorange: 'reversed' });
    valueAxis(lay, rows.map((r) => Number(r.sales)));
    draw('chart-provinces', [{
      type: 'bar', orientation: 'h', y: rows.map((r) => plotText(r.province)), x: rows.map((r) => Number(r.sales)),
      customdata: rows.map((r) => [money(r.sales), count(r.transactions)]),
      hovertemplate: '%{y}: %{customdata[0]}<br>%{customdata[1]} receipts<extra></extra>',
      marker: { color: C.accent }, ...barLabels(rows),
    }], lay);
  }

  // SI suffixes only from $1k up: below that "~s" would print "$500m" for half a dollar.
  const moneyTicks = (max) => ({ tickprefix: '$', tickformat: max >= 1000 ? '~s' : max >= 10 ? ',.0f' : ',.2f', rangemode: 'tozero' });

  // Sales axis with room right of the longest bar for its value label.
  function valueAxis(lay, values) {
    const max = Math.max(...values, 1);
    Object.assign(lay.xaxis, moneyTicks(max), { nticks: 5 });
    if (values.length) { lay.xaxis.range = [0, max * 1.45]; delete lay.xaxis.rangemode; }
  }

  // Whole dollars on the bars read better from across a room; the hover has the cents.
  const barLabels = (rows) => ({
    text: rows.map((r) => DOLLARS.format(Number(r.sales))), textposition: 'outside', constraintext: 'none',
    textfont: { color: C.text }, cliponaxis: false,
  });

  function renderHourly(h, clock) {
    const hours = h?.hours?.length ? h.hours : [...Array(24).keys()];
    const today = (h?.today || []).map(Number);
    const before = (h?.week_before || []).map(Number);
    const empty = !clock?.today || ![...today, ...before].some((v) => v > 0);
    const lay = layout('Sales per hour vs a week earlier', 'Hour of day (local)', 'Sales (CAD)', empty);
    Object.assign(lay.xaxis, { range: [-0.5, 23.5], dtick: 2, type: 'linear', showticklabels: true });
    Object.assign(lay.yaxis, moneyTicks(Math.max(...today, ...before, 1)));
    lay.showlegend = !empty;
    // Legend under the axis title: the top is taken by the chart title on narrow panels.
    lay.legend = { orientation: 'h', x: 0.5, xanchor: 'center', yref: 'container', y: 0, yanchor: 'bottom', font: { color: C.text } };
    lay.hovermode = 'x unified';
    const hover = (label) => `${label}: %{y:$,.2f}<extra></extra>`;
    draw('chart-hourly', empty ? [] : [
      { type: 'bar', name: `${dayLabel(clock?.today)} (today)`, x: hours, y: today, marker: { color: C.accent }, hovertemplate: hover('today') },
      { type: 'scatter', mode: 'lines+markers', name: `${dayLabel(clock?.week_before)} (week before)`, x: hours, y: before,
        line: { color: C.accent2, width: 2, dash: 'dot' }, marker: { size: 5 }, hovertemplate: hover('week before') },
    ], lay);
  }

  function renderProducts(rows) {
    const lay = layout('Top products today', 'Sales (CAD)', 'Product', rows.length === 0);
    Object.assign(lay.yaxis, { type: 'category', autorange: 'reversed' });
    // Distinct category labels: two products could share a display name.
    const seen = new Set();
    lay.yaxis.tickfont.size = lay.font.size * 0.88;
    const rowPx = ($('chart-products').clientHeight - 90) / Math.max(rows.length, 1);
    const labels = rows.map((r) => {
      let name = shorten(String(r.name ?? ''), 26, rowPx >= lay.font.size * 2.35).map(plotText).join('<br>');
      if (seen.has(name)) name += ` (${plotText(r.sku)})`;
      seen.add(name);
      return name;
    });
    const sales = rows.map((r) => Number(r.sales));
    valueAxis(lay, sales);
    draw('chart-products', [{
      type: 'bar', orientation: 'h', y: labels, x: sales, ...barLabels(rows),
      customdata: rows.map((r) => [plotText(r.name), money(r.sales), qty(r.units), plotText(r.category)]),
      hovertemplate: '%{customdata[0]}<br>%{customdata[1]} · %{customdata[2]} units · %{customdata[3]}<extra></extra>',
      marker: { color: C.green },
    }], lay);
  }

  // Receipt rows are kept by id so a row survives between snapshots and only new ones flash.
  const tickerRows = new Map();
  let tickerPrimed = false;

  function receiptRow(r) {
    const tr = row([
      [r.local_time, 'nowrap'], el('span', r.store_name), [count(r.items), 'num'],
      [money(r.total), 'num'], [String(r.payment_method ?? '').replace(/_/g, ' '), 'pay'],
    ]);
    tr.cells[1].append(el('span', r.province, 'prov'));
    tr.dataset.id = r.transaction_id;
    tr.addEventListener('animationend', () => tr.classList.remove('fresh'));
    return tr;
  }

  function renderTicker(receipts) {
    const body = $('ticker');
    const wanted = new Map();
    receipts.forEach((r, i) => {
      let tr = tickerRows.get(r.transaction_id);
      if (!tr) {
        tr = receiptRow(r);
        if (tickerPrimed) tr.classList.add('fresh');
      }
      wanted.set(r.transaction_id, tr);
      // Only move rows that are out of place, so running highlights are not restarted.
      if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
    });
    while (body.children.length > receipts.length) body.lastElementChild.remove();
    tickerRows.clear();
    wanted.forEach((tr, id) => tickerRows.set(id, tr));
    tickerPrimed = true;
    $('ticker-empty').hidden = receipts.length > 0;
  }

  function renderLowStock(ls) {
    const items = ls?.items || [];
    const counts = $('low-stock-counts');
    counts.replaceChildren(
      el('b', count(ls?.below_reorder ?? 0)), ' below reorder · ',
      el('b', count(ls?.out_of_stock ?? 0), ls?.out_of_stock ? 'bad' : ''), ' out of stock');
    const body = $('low-stock').tBodies[0];
    if (!items.length) return placeholder(body, 'no low stock', 5);
    body.replaceChildren(...items.map((it) => {
      const tr = row([
        [it.store_name], [it.province, 'nowrap'], [it.name], [qty(it.on_hand), 'num'], [qty(it.reorder_point), 'num'],
      ]);
      tr.title = `${it.store_id} · SKU ${it.sku}`;
      if (Number(it.on_hand) <= 0) tr.classList.add('out');
      return tr;
    }));
  }

  function renderDeadLetters(dl, total, brokerOk) {
    const body = $('dead-letters').tBodies[0];
    const rows = Object.entries(dl || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    if (!rows.length) return placeholder(body, total == null && brokerOk === false ? 'unknown — broker unreachable' : 'none', 2);
    body.replaceChildren(...rows.map(([reason, n]) => row([[reason.replace(/_/g, ' ')], [count(n), 'num']])));
  }

  function safely(what, fn) {
    try { fn(); } catch (err) { console.error(`dashboard: could not render ${what}`, err); }
  }

  function render(s) {
    const st = s.status || {};
    if (s.status) safely('status', () => {
      setService(st.database, { pill: 'db-status', bannerId: 'banner-db', name: 'Warehouse', down: 'disconnected', cls: '.db-data' });
      setService(st.broker, { pill: 'broker-status', bannerId: 'banner-broker', name: 'Broker', down: 'unreachable', cls: '.broker-data' });
    });
    safely('figures', () => renderKpis(s));
    safely('provinces chart', () => renderProvinces(s.sales_by_province || []));
    safely('hourly chart', () => renderHourly(s.hourly, s.clock));
    safely('products chart', () => renderProducts(s.top_products || []));
    safely('receipts', () => renderTicker(s.receipts || []));
    safely('low stock', () => renderLowStock(s.low_stock));
    safely('dead letters', () => renderDeadLetters(s.pipeline?.dead_letters, s.pipeline?.dead_letters_total, st.broker?.ok));
  }

  let snapshots = 0, lastSnapshotAt = Date.now(), source = null, retryTimer = null, retryDelay = 1000;

  function onSnapshot(ev) {
    let s;
    try { s = JSON.parse(ev.data); } catch (err) { console.warn('dashboard: ignoring malformed snapshot', err); return; }
    lastSnapshotAt = Date.now();
    retryDelay = 1000;
    snapshots += 1;
    window.posDashboard = { snapshots, last: s };
    setConn('live');
    render(s);
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (source) source.close();
    const es = new EventSource('/events');
    source = es;
    es.addEventListener('snapshot', onSnapshot);
    es.onerror = () => {
      if (es !== source || es.readyState === EventSource.OPEN) return;
      setConn('lost');
      // EventSource gives up for good after an HTTP error (e.g. 502 while the server restarts).
      if (es.readyState === EventSource.CLOSED && !retryTimer) {
        retryTimer = setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 15000);
      }
    };
  }

  // A half-open connection never fires onerror; notice the silence and start over.
  setInterval(() => {
    if (Date.now() - lastSnapshotAt > STALL_MS) {
      lastSnapshotAt = Date.now();
      setConn('lost');
      connect();
    }
  }, 1000);

  // Charts follow their panel's size (banners appearing, big screens), not just window resizes.
  // Product labels are laid out for the chart's height, so that chart is redrawn first.
  const resizer = new ResizeObserver((entries) => {
    for (const { target } of entries) {
      if (!target.classList.contains('js-plotly-plot')) continue;
      if (target.id === 'chart-products') safely('products chart', () => renderProducts(window.posDashboard.last?.top_products || []));
      Plotly.Plots.resize(target).catch(() => {});
    }
  });
  for (const id of ['chart-provinces', 'chart-hourly', 'chart-products']) resizer.observe($(id));

  window.posDashboard = { snapshots: 0, last: null };
  render({ pipeline: {}, clock: {} }); // empty panels until the first snapshot
  setConn('connecting');
  connect();
})();
