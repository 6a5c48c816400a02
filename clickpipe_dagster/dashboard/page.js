// The clickpipe dashboard page: filters and charts over the marts embedded as JSON.
// Plain JavaScript; charts are Chart.js (inlined above). Money is summed in integer cents, as
// BigInt: a day's revenue may have 36 digits (numeric(38,2)), far beyond a double's exact range.
(function () {
  "use strict";

  const DATA = JSON.parse(document.getElementById("clickpipe-data").textContent);
  const TITLES = DATA.titles;
  const DAYS = DATA.days;
  const TYPES = DATA.event_types;
  const COLORS = ["#2f6fdf", "#e8833a", "#3aa876", "#c94f7c", "#8a63d2", "#d4b23f", "#4bb3c8", "#7f8c99"];
  const fmtInt = new Intl.NumberFormat("en-US");
  const fmtPct = new Intl.NumberFormat("en-US", { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const TOP_PAGES_SHOWN = 15;

  // -- data ---------------------------------------------------------------------------------------
  function rows(mart) {
    const m = DATA.marts[mart];
    return m.rows.map((r) => Object.fromEntries(m.columns.map((c, i) => [c, r[i]])));
  }
  function toCents(s) {
    const neg = s.startsWith("-");
    const [whole, frac = ""] = (neg ? s.slice(1) : s).split(".");
    const c = BigInt(whole) * 100n + BigInt((frac + "00").slice(0, 2));
    return neg ? -c : c;
  }
  function centsText(c, group) {
    const neg = c < 0n;
    const a = neg ? -c : c;
    return (neg ? "-" : "") + (group ? fmtInt.format(a / 100n) : String(a / 100n)) + "." + String(a % 100n).padStart(2, "0");
  }
  const centsToString = (c) => centsText(c, false);
  const fmtCents = (c) => centsText(c, true);
  // revenue / orders rounded half up to the cent (revenue is never negative)
  const averageCents = (total, n) => (2n * total + BigInt(n)) / (2n * BigInt(n));
  const EVENTS = rows("daily_events");
  const FUNNEL = rows("funnel_daily");
  const REVENUE = rows("revenue_daily").map((r) => Object.assign(r, { revenue_cents: toCents(r.revenue) }));
  const PAGES = rows("top_pages_daily");
  const LOADED = Object.fromEntries(Object.entries(DATA.loaded).map(([k, v]) => [k, new Set(v)]));

  const currencies = (() => {
    const total = {};
    for (const r of REVENUE) total[r.currency] = (total[r.currency] || 0) + r.orders;
    return Object.keys(total).sort((a, b) => total[b] - total[a] || a.localeCompare(b));
  })();
  const defaultCurrency = currencies.includes(DATA.meta.default_currency) ? DATA.meta.default_currency : currencies[0] || "";

  // -- state and filters ---------------------------------------------------------------------------
  const state = { from: DAYS[0] || "", to: DAYS[DAYS.length - 1] || "", types: new Set(TYPES), currency: defaultCurrency };
  const inRange = (d) => d >= state.from && d <= state.to;
  const visibleDays = () => DAYS.filter(inRange);
  const typeColor = (t) => COLORS[TYPES.indexOf(t) % COLORS.length];

  const $ = (id) => document.getElementById(id);
  const dateFrom = $("date-from");
  const dateTo = $("date-to");
  const currencySelect = $("currency");

  function setupFilters() {
    for (const input of [dateFrom, dateTo]) {
      input.min = DAYS[0] || "";
      input.max = DAYS[DAYS.length - 1] || "";
    }
    const chips = $("event-type-chips");
    for (const t of TYPES) {
      const label = document.createElement("label");
      label.className = "chip";
      label.innerHTML = '<input type="checkbox"><span class="swatch"></span><span></span>';
      const box = label.querySelector("input");
      box.value = t;
      box.name = "event-type";
      box.addEventListener("change", () => {
        if (box.checked) state.types.add(t);
        else state.types.delete(t);
        update();
      });
      label.querySelector(".swatch").style.background = typeColor(t);
      label.querySelector("span:last-child").textContent = t;
      chips.appendChild(label);
    }
    for (const c of currencies) {
      const o = document.createElement("option");
      o.value = c;
      o.textContent = c;
      currencySelect.appendChild(o);
    }
    // "change" fires when a date is committed; "input" too in some browsers: handle both.
    for (const ev of ["change", "input"]) {
      dateFrom.addEventListener(ev, () => { if (dateFrom.value) { state.from = dateFrom.value; update(); } });
      dateTo.addEventListener(ev, () => { if (dateTo.value) { state.to = dateTo.value; update(); } });
    }
    currencySelect.addEventListener("change", () => { state.currency = currencySelect.value; update(); });
    $("types-all").addEventListener("click", () => { TYPES.forEach((t) => state.types.add(t)); update(); });
    $("types-none").addEventListener("click", () => { state.types.clear(); update(); });
    $("reset").addEventListener("click", () => {
      state.from = DAYS[0] || "";
      state.to = DAYS[DAYS.length - 1] || "";
      state.types = new Set(TYPES);
      state.currency = defaultCurrency;
      update();
    });
  }

  function syncControls() {
    dateFrom.value = state.from;
    dateTo.value = state.to;
    currencySelect.value = state.currency;
    for (const box of document.querySelectorAll('#event-type-chips input')) box.checked = state.types.has(box.value);
  }

  // -- figures -------------------------------------------------------------------------------------
  function figures() {
    let events = 0, sessions = 0, orders = 0, revenueCents = 0n, refundCents = 0n, curOrders = 0, viewed = 0, purchased = 0;
    for (const r of EVENTS) if (inRange(r.dt) && state.types.has(r.event_type)) events += r.events;
    for (const r of FUNNEL) {
      if (!inRange(r.dt)) continue;
      sessions += r.sessions;
      viewed += r.viewed_sessions;
      purchased += r.purchase_sessions;
    }
    for (const r of REVENUE) {
      if (!inRange(r.dt)) continue;
      orders += r.orders;
      if (r.currency === state.currency) {
        revenueCents += r.revenue_cents;
        refundCents += toCents(r.refunded_amount);
        curOrders += r.orders;
      }
    }
    return { events, sessions, orders, revenueCents, refundCents, curOrders, viewed, purchased,
             conversion: viewed ? purchased / viewed : null };
  }

  function renderKpis(f) {
    const days = visibleDays().length;
    const aov = f.curOrders ? fmtCents(averageCents(f.revenueCents, f.curOrders)) : "–";
    const tiles = [
      ["kpi-events", fmtInt.format(f.events), String(f.events),
        `${state.types.size} of ${TYPES.length} event types · ${days} day${days === 1 ? "" : "s"}`],
      ["kpi-sessions", fmtInt.format(f.sessions), String(f.sessions), TITLES["kpi-sessions"].subtitle],
      ["kpi-orders", fmtInt.format(f.orders), String(f.orders), TITLES["kpi-orders"].subtitle],
      ["kpi-revenue", `${state.currency} ${fmtCents(f.revenueCents)}`, centsToString(f.revenueCents),
        `${fmtInt.format(f.curOrders)} orders · AOV ${aov} · refunded ${fmtCents(f.refundCents)}`],
      ["kpi-conversion", f.conversion === null ? "–" : fmtPct.format(f.conversion),
        f.conversion === null ? "" : String(f.conversion),
        `${fmtInt.format(f.purchased)} of ${fmtInt.format(f.viewed)} viewing sessions purchased`],
    ];
    const box = $("kpis");
    if (!box.children.length) {
      for (const [id] of tiles) {
        const el = document.createElement("div");
        el.className = "kpi";
        el.id = id;
        el.innerHTML = '<div class="label"></div><div class="value"></div><div class="sub"></div>';
        el.querySelector(".label").textContent = TITLES[id].title;
        box.appendChild(el);
      }
    }
    for (const [id, text, raw, sub] of tiles) {
      const el = $(id);
      el.dataset.value = raw;
      el.querySelector(".value").textContent = text;
      el.querySelector(".value").title = text;
      el.querySelector(".sub").textContent = sub;
    }
    $("kpi-revenue").querySelector(".label").textContent = `${TITLES["kpi-revenue"].title} · ${state.currency}`;
  }

  // -- charts --------------------------------------------------------------------------------------
  Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
  Chart.defaults.color = "#5d6b7a";
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;

  // Value labels at the end of the funnel's bars (Chart.js has no built-in data labels).
  const funnelLabels = {
    id: "funnelLabels",
    afterDatasetsDraw(chart) {
      const ctx = chart.ctx;
      const data = chart.data.datasets[0].data;
      ctx.save();
      ctx.font = "600 12px " + Chart.defaults.font.family;
      ctx.fillStyle = "#1d2733";
      ctx.textBaseline = "middle";
      chart.getDatasetMeta(0).data.forEach((bar, i) => {
        const share = i >= 1 && data[i - 1] ? ` (${fmtPct.format(data[i] / data[i - 1])})` : "";
        ctx.fillText(fmtInt.format(data[i]) + share, bar.x + 6, bar.y);
      });
      ctx.restore();
    },
  };

  function card(id) {
    const el = $(id);
    el.querySelector("h2").textContent = TITLES[id].title;
    el.querySelector(".note").textContent = TITLES[id].subtitle || "";
    return el;
  }

  const charts = {};
  function makeCharts() {
    charts.events = new Chart(card("events-by-type").querySelector("canvas"), {
      type: "line",
      data: { labels: [], datasets: [] },
      options: {
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "right", labels: { boxWidth: 12 } } },
        scales: { x: { offset: true }, y: { beginAtZero: true, title: { display: true, text: "events" } } },
        elements: { line: { tension: 0.25, borderWidth: 2 }, point: { radius: 3 } },
        spanGaps: false,
      },
    });
    charts.revenue = new Chart(card("revenue-trend").querySelector("canvas"), {
      data: { labels: [], datasets: [] },
      options: {
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: {
          x: { type: "category", offset: true },
          y: { beginAtZero: true, position: "left", title: { display: true, text: "revenue" } },
          y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: "orders" } },
        },
      },
    });
    charts.funnel = new Chart(card("funnel").querySelector("canvas"), {
      type: "bar",
      data: { labels: DATA.funnel_steps.map((s) => s.label), datasets: [{ label: "sessions", data: [] }] },
      options: {
        indexAxis: "y",
        layout: { padding: { right: 110 } },
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, grid: { color: "#eef1f5" } }, y: { grid: { display: false } } },
      },
      plugins: [funnelLabels],
    });
    card("top-pages");
    $("funnel").querySelector(".note").textContent += " · in brackets: % of the step above";
  }

  function updateCharts() {
    const days = visibleDays();
    // Events: a line per selected type; a day with no load of the mart is a gap, a loaded empty day is 0.
    const byDayType = {};
    for (const r of EVENTS) byDayType[r.dt + "|" + r.event_type] = r.events;
    charts.events.data.labels = days;
    charts.events.data.datasets = TYPES.filter((t) => state.types.has(t)).map((t) => ({
      label: t,
      data: days.map((d) => (LOADED.daily_events.has(d) ? byDayType[d + "|" + t] || 0 : null)),
      borderColor: typeColor(t),
      backgroundColor: typeColor(t),
    }));
    charts.events.update("none");

    // Revenue in the selected currency (all countries) and its orders.
    const rev = {}, ord = {};
    for (const r of REVENUE) {
      if (r.currency !== state.currency) continue;
      rev[r.dt] = (rev[r.dt] || 0n) + r.revenue_cents;
      ord[r.dt] = (ord[r.dt] || 0) + r.orders;
    }
    const loadedRev = (d) => LOADED.revenue_daily.has(d);
    charts.revenue.data.labels = days;
    charts.revenue.data.datasets = [
      { type: "line", label: `revenue (${state.currency})`, yAxisID: "y", order: 1,
        data: days.map((d) => (loadedRev(d) ? Number(rev[d] || 0n) / 100 : null)),
        borderColor: "#2f6fdf", backgroundColor: "rgba(47,111,223,0.12)", fill: true, tension: 0.25, pointRadius: 3 },
      { type: "bar", label: "orders", yAxisID: "y1", order: 2,
        data: days.map((d) => (loadedRev(d) ? ord[d] || 0 : null)),
        backgroundColor: "rgba(232,131,58,0.55)", borderRadius: 3, maxBarThickness: 36 },
    ];
    charts.revenue.options.scales.y.title.text = `revenue (${state.currency})`;
    charts.revenue.update("none");

    const sums = DATA.funnel_steps.map((s) => FUNNEL.filter((r) => inRange(r.dt)).reduce((a, r) => a + r[s.column], 0));
    charts.funnel.data.datasets[0].data = sums;
    charts.funnel.data.datasets[0].backgroundColor = ["#9db7e8", "#2f6fdf", "#e8833a", "#3aa876"];
    charts.funnel.data.datasets[0].borderRadius = 4;
    charts.funnel.update("none");
  }

  function topPages() {
    const agg = new Map();
    for (const r of PAGES) {
      if (!inRange(r.dt)) continue;
      const a = agg.get(r.page) || { page: r.page, views: 0, sessions: 0, days: 0, best: Infinity };
      a.views += r.views;
      a.sessions += r.sessions;
      a.days += 1;
      a.best = Math.min(a.best, r.page_rank);
      agg.set(r.page, a);
    }
    return [...agg.values()].sort((x, y) => y.views - x.views || (x.page < y.page ? -1 : x.page > y.page ? 1 : 0));
  }

  function renderTable() {
    const all = topPages();
    const shown = all.slice(0, TOP_PAGES_SHOWN);
    const max = shown.length ? shown[0].views : 1;
    const body = $("top-pages").querySelector("tbody");
    body.replaceChildren();
    shown.forEach((p, i) => {
      const tr = document.createElement("tr");
      tr.dataset.page = p.page;
      const cells = [
        [String(i + 1), "num"], [p.page, "page"], [fmtInt.format(p.views), "num views"], ["", "bar-cell"],
        [fmtInt.format(p.sessions), "num sessions"], [String(p.days), "num days"], [String(p.best), "num best"],
      ];
      for (const [text, cls] of cells) {
        const td = document.createElement("td");
        td.className = cls;
        td.textContent = text;
        tr.appendChild(td);
      }
      tr.querySelector(".bar-cell").innerHTML = '<div class="bar"><span></span></div>';
      tr.querySelector(".bar span").style.width = `${(100 * p.views) / max}%`;
      body.appendChild(tr);
    });
    if (!shown.length) {
      const tr = document.createElement("tr");
      tr.className = "none";
      tr.innerHTML = '<td colspan="7">No page views in the selected days.</td>';
      body.appendChild(tr);
    }
    $("top-pages").querySelector(".note").textContent =
      `${TITLES["top-pages"].subtitle} · ${fmtInt.format(all.length)} pages, top ${shown.length} shown`;
  }

  function renderText() {
    const m = DATA.meta;
    const span = DAYS.length ? `${DAYS[0]} … ${DAYS[DAYS.length - 1]} (${DAYS.length} days)` : "no days";
    $("meta").innerHTML = "";
    $("meta").append(`Data ${span}`, document.createElement("br"),
      `last load ${m.last_load || "–"} · rendered ${m.generated_at}`);
    const days = visibleDays().length;
    $("showing").textContent = `Showing ${state.from} … ${state.to} (${days} day${days === 1 ? "" : "s"}) · ` +
      `${state.types.size} of ${TYPES.length} event types · revenue in ${state.currency || "–"}`;
    $("footer").textContent = `Source: ${m.source}. Rendered by the Dagster asset "dashboard"; ` +
      `charts by Chart.js ${m.chartjs} (MIT), inlined. Amounts are never converted between currencies.`;
  }

  // -- the analytics pages: acquisition, engagement, retention, paths (sessionized marts) ------------
  const ACQUISITION = rows("acquisition_daily");
  const ENGAGEMENT = rows("engagement_daily");
  const DEVICES = rows("devices_daily");
  const SESSION_FUNNEL = rows("session_funnel_daily");
  const TRANSITIONS = rows("page_transitions_daily");
  const PURCHASE_PATHS = rows("purchase_paths_daily");
  const RETENTION = rows("retention_weekly");
  const TABLE_ROWS = 15;
  const rate = (n, d) => (d ? fmtPct.format(n / d) : "–");

  // Sums of `fields` per key of the rows in the selected days, largest `order` first.
  function totals(source, keyOf, fields, order) {
    const out = new Map();
    for (const r of source) {
      if (!inRange(r.dt)) continue;
      const k = keyOf(r);
      const t = out.get(k) || Object.assign({ key: k, first: r }, Object.fromEntries(fields.map((f) => [f, 0])));
      for (const f of fields) t[f] += r[f];
      out.set(k, t);
    }
    return [...out.values()].sort((x, y) => y[order] - x[order] || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  }
  // The sum over the selected days of a per-day total repeated on each row of its day.
  function dayTotal(source, field) {
    const per = new Map();
    for (const r of source) if (inRange(r.dt)) per.set(r.dt, r[field]);
    return [...per.values()].reduce((a, b) => a + b, 0);
  }
  function fillTable(id, items, cells, empty) {
    const body = $(id).querySelector("tbody");
    body.replaceChildren();
    for (const item of items) {
      const tr = document.createElement("tr");
      tr.dataset.key = item.key;
      for (const [text, cls] of cells(item)) {
        const td = document.createElement("td");
        td.className = cls;
        td.textContent = text;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    if (!items.length) {
      const tr = document.createElement("tr");
      tr.className = "none";
      const td = document.createElement("td");
      td.colSpan = $(id).querySelectorAll("thead th").length;
      td.textContent = empty;
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }
  function barChart(id, horizontal, extra) {
    return new Chart(card(id).querySelector("canvas"), Object.assign({
      type: "bar",
      data: { labels: [], datasets: [] },
      options: {
        indexAxis: horizontal ? "y" : "x",
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: { x: { beginAtZero: true }, y: { beginAtZero: true } },
      },
    }, extra || {}));
  }

  function makeAnalyticsCharts() {
    charts.channels = barChart("channels", true);
    charts.devices = new Chart(card("devices").querySelector("canvas"), {
      type: "doughnut",
      data: { labels: [], datasets: [{ label: "sessions", data: [] }] },
      options: { plugins: { legend: { position: "right", labels: { boxWidth: 12 } } } },
    });
    charts.durations = barChart("durations", false);
    charts.durations.options.scales.y1 = { beginAtZero: true, position: "right", grid: { drawOnChartArea: false },
      title: { display: true, text: "pages per session" } };
    charts.sessionFunnel = barChart("session-funnel", true);
    charts.sessionFunnel.options.plugins.legend.display = false;
    for (const id of ["campaigns", "browsers", "cohorts", "transitions", "purchase-paths"]) card(id);
    for (const box of document.querySelectorAll("input[name='cohort-measure']")) box.addEventListener("change", renderCohorts);
  }

  function updateAcquisition() {
    const channels = totals(ACQUISITION, (r) => r.channel, ["sessions", "conversions"], "sessions");
    charts.channels.data.labels = channels.map((c) => c.key);
    charts.channels.data.datasets = [
      { label: "sessions", data: channels.map((c) => c.sessions), backgroundColor: "#2f6fdf", borderRadius: 3 },
      { label: "conversions", data: channels.map((c) => c.conversions), backgroundColor: "#3aa876", borderRadius: 3 },
    ];
    charts.channels.update("none");
    const devices = totals(DEVICES, (r) => r.device_class, ["sessions"], "sessions");
    charts.devices.data.labels = devices.map((d) => d.key);
    charts.devices.data.datasets[0].data = devices.map((d) => d.sessions);
    charts.devices.data.datasets[0].backgroundColor = devices.map((_, i) => COLORS[i % COLORS.length]);
    charts.devices.update("none");

    const campaigns = totals(ACQUISITION, (r) => [r.channel, r.source, r.campaign].join(" | "),
      ["sessions", "bounces", "conversions"], "sessions");
    const revenue = new Map();  // key -> cents in the selected currency
    for (const r of ACQUISITION) {
      if (!inRange(r.dt) || r.revenue === null || r.revenue_currency !== state.currency) continue;
      const k = [r.channel, r.source, r.campaign].join(" | ");
      revenue.set(k, (revenue.get(k) || 0n) + toCents(r.revenue));
    }
    fillTable("campaigns", campaigns.slice(0, TABLE_ROWS), (c) => [
      [c.first.channel, "channel"], [c.first.source, "source"], [c.first.campaign, "campaign"],
      [fmtInt.format(c.sessions), "num sessions"], [rate(c.bounces, c.sessions), "num"],
      [fmtInt.format(c.conversions), "num conversions"], [rate(c.conversions, c.sessions), "num"],
      [revenue.has(c.key) ? fmtCents(revenue.get(c.key)) : "–", "num revenue"],
    ], "No sessions in the selected days.");
    $("campaigns").querySelector(".note").textContent =
      `${TITLES.campaigns.subtitle} · revenue in ${state.currency || "–"} · ${fmtInt.format(campaigns.length)} rows, top ${Math.min(TABLE_ROWS, campaigns.length)} shown`;
  }

  function updateEngagement() {
    const buckets = totals(ENGAGEMENT, (r) => r.duration_bucket, ["sessions", "page_views", "bounces"], "sessions")
      .sort((x, y) => x.first.bucket_order - y.first.bucket_order);
    charts.durations.data.labels = buckets.map((b) => b.key);
    charts.durations.data.datasets = [
      { type: "bar", label: "sessions", data: buckets.map((b) => b.sessions), backgroundColor: "#2f6fdf", borderRadius: 3, order: 2 },
      { type: "line", label: "pages per session", yAxisID: "y1", order: 1, borderColor: "#e8833a", backgroundColor: "#e8833a",
        data: buckets.map((b) => (b.sessions ? Math.round((100 * b.page_views) / b.sessions) / 100 : null)) },
    ];
    charts.durations.update("none");
    const all = buckets.reduce((a, b) => ({ s: a.s + b.sessions, v: a.v + b.page_views, o: a.o + b.bounces }), { s: 0, v: 0, o: 0 });
    $("durations").querySelector(".note").textContent = `${TITLES.durations.subtitle} · ${fmtInt.format(all.s)} sessions, ` +
      `${all.s ? (all.v / all.s).toFixed(2) : "–"} pages per session, bounce rate ${rate(all.o, all.s)}`;

    const steps = totals(SESSION_FUNNEL, (r) => r.event_type, ["sessions"], "sessions")
      .sort((x, y) => x.first.step - y.first.step);
    charts.sessionFunnel.data.labels = steps.map((s) => s.key);
    charts.sessionFunnel.data.datasets = [{ label: "sessions", data: steps.map((s) => s.sessions),
      backgroundColor: ["#9db7e8", "#2f6fdf", "#e8833a", "#3aa876"], borderRadius: 4 }];
    charts.sessionFunnel.update("none");

    const browsers = totals(DEVICES, (r) => [r.device_class, r.browser, r.os].join(" | "),
      ["sessions", "users", "bounces", "conversions"], "sessions");
    fillTable("browsers", browsers.slice(0, TABLE_ROWS), (b) => [
      [b.first.device_class, "device"], [b.first.browser, "browser"], [b.first.os, "os"],
      [fmtInt.format(b.sessions), "num sessions"], [fmtInt.format(b.users), "num users"],
      [rate(b.bounces, b.sessions), "num"], [fmtInt.format(b.conversions), "num conversions"],
    ], "No sessions in the selected days.");
  }

  function renderCohorts() {
    const measure = document.querySelector("input[name='cohort-measure']:checked").value;
    const weeks = Math.max(0, ...RETENTION.map((r) => r.weeks_since));
    const cohorts = [...new Set(RETENTION.map((r) => r.cohort_week))].sort();
    const cell = new Map(RETENTION.map((r) => [r.cohort_week + "|" + r.weeks_since, r]));
    const head = $("cohorts").querySelector("thead");
    head.innerHTML = "<tr><th>Cohort (week of)</th><th class='num'>Users</th></tr>";
    for (let w = 0; w <= weeks; w++) {
      const th = document.createElement("th");
      th.className = "num";
      th.textContent = `week ${w}`;
      head.firstChild.appendChild(th);
    }
    const body = $("cohorts").querySelector("tbody");
    body.replaceChildren();
    for (const c of cohorts) {
      const tr = document.createElement("tr");
      tr.dataset.cohort = c;
      const size = cell.get(c + "|0") ? cell.get(c + "|0").cohort_users : 0;
      tr.innerHTML = "<td class='cohort'></td><td class='size'></td>";
      tr.children[0].textContent = c;
      tr.children[1].textContent = fmtInt.format(size);
      for (let w = 0; w <= weeks; w++) {
        const td = document.createElement("td");
        const r = cell.get(c + "|" + w);
        if (r) {
          const n = r[measure];
          const share = r.cohort_users ? n / r.cohort_users : 0;
          td.textContent = fmtPct.format(share);
          td.title = `${fmtInt.format(n)} of ${fmtInt.format(r.cohort_users)}`;
          td.dataset.value = String(n);
          td.style.background = `rgba(47, 111, 223, ${(0.08 + 0.8 * share).toFixed(3)})`;
          td.style.color = share > 0.55 ? "#fff" : "";
        }
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    if (!cohorts.length) body.innerHTML = "<tr class='none'><td colspan='3'>No cohorts yet: the retention mart is empty.</td></tr>";
  }

  function updatePaths() {
    const moves = totals(TRANSITIONS, (r) => r.from_page + " → " + r.to_page, ["transitions", "sessions"], "transitions");
    const all = dayTotal(TRANSITIONS, "day_transitions");
    fillTable("transitions", moves.slice(0, 20).map((m, i) => Object.assign(m, { rank: i + 1 })), (m) => [
      [String(m.rank), "num"], [m.first.from_page, "page from"], [m.first.to_page, "page to"],
      [fmtInt.format(m.transitions), "num transitions"], [rate(m.transitions, all), "num share"], [fmtInt.format(m.sessions), "num"],
    ], "No page views in the selected days.");
    const paths = totals(PURCHASE_PATHS, (r) => r.path, ["sessions"], "sessions");
    const bought = dayTotal(PURCHASE_PATHS, "day_sessions");
    fillTable("purchase-paths", paths.slice(0, 10).map((p, i) => Object.assign(p, { rank: i + 1 })), (p) => [
      [String(p.rank), "num"], [p.key, "path"], [fmtInt.format(p.sessions), "num sessions"], [rate(p.sessions, bought), "num share"],
    ], "No purchases in the selected days.");
    $("transitions").querySelector(".note").textContent =
      `${TITLES.transitions.subtitle} · ${fmtInt.format(all)} transitions in the selected days, the top 20 shown`;
  }

  // -- pages (tabs) ----------------------------------------------------------------------------------
  const PAGES_SHOWN = ["overview", "acquisition", "engagement", "retention", "paths"];
  function showPage(name) {
    if (!PAGES_SHOWN.includes(name)) name = "overview";
    for (const p of PAGES_SHOWN) {
      $("page-" + p).hidden = p !== name;
      $("tab-" + p).setAttribute("aria-selected", String(p === name));
    }
    for (const c of Object.values(charts)) if (c.canvas.offsetParent !== null) c.resize();
    document.body.dataset.page = name;
  }
  for (const b of document.querySelectorAll(".tabs button")) {
    b.addEventListener("click", () => {
      history.replaceState(null, "", "#" + b.dataset.page);
      showPage(b.dataset.page);
    });
  }

  function update() {
    if (state.from > state.to) [state.from, state.to] = [state.to, state.from];
    syncControls();
    const f = figures();
    renderKpis(f);
    updateCharts();
    renderTable();
    updateAcquisition();
    updateEngagement();
    updatePaths();
    renderText();
    document.body.dataset.state = JSON.stringify({ from: state.from, to: state.to, types: [...state.types], currency: state.currency });
  }

  setupFilters();
  makeCharts();
  makeAnalyticsCharts();
  if (!DAYS.length) $("empty").hidden = false;
  update();
  renderCohorts();
  showPage(location.hash.slice(1));
  document.body.dataset.ready = "true";
})();
