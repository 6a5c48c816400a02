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

  function update() {
    if (state.from > state.to) [state.from, state.to] = [state.to, state.from];
    syncControls();
    const f = figures();
    renderKpis(f);
    updateCharts();
    renderTable();
    renderText();
    document.body.dataset.state = JSON.stringify({ from: state.from, to: state.to, types: [...state.types], currency: state.currency });
  }

  setupFilters();
  makeCharts();
  if (!DAYS.length) $("empty").hidden = false;
  update();
  document.body.dataset.ready = "true";
})();
