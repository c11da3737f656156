// The routing dashboard: reads GET /v1/routing/stats and draws it, with no library and no build step.
//
// For tests: every number on the page sits in an element with a stable `data-stat` name and a `data-value`
// holding the API's raw value (a number as JavaScript prints it, a money amount as the API's decimal
// string, `null` where the API gave none); the visible text is the formatted one. After a successful fetch
// has been drawn, <body data-ready="true">; after a failed one, <body data-error="the message">.
"use strict";

(function () {
  const REFRESH_MS = 10000;
  const KEY_STORAGE = "tiered-router.api-key";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const TIERS = ["0", "1", "2", "3"];
  const TIER_NAMES = { "0": "Tier 0", "1": "Tier 1", "2": "Tier 2", "3": "Tier 3", none: "none" };
  const TIER_ROLES = { "0": "command", "1": "micro", "2": "light", "3": "frontier", none: "unanswered" };
  const TIER_COLORS = { "0": "#8a94a6", "1": "#2f9e6f", "2": "#3b73d9", "3": "#d9822b", none: "#c94a4a" };
  // The page is served at <prefix>/dashboard; the API lives under the same prefix.
  const API_BASE = location.pathname.replace(/\/dashboard(\/.*)?$/, "");

  const $ = (id) => document.getElementById(id);
  let generation = 0;
  let timer = null;
  let controller = null;

  // ---- formatting ----------------------------------------------------------------------------------

  function rawValue(value) {
    if (value === null || value === undefined) return "null";
    if (Array.isArray(value)) return JSON.stringify(value);
    return String(value);
  }

  function fmtCount(n) {
    return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
  }

  function fmtShare(x) {
    return x === null || x === undefined ? "—" : (x * 100).toFixed(1) + "%";
  }

  function fmtUsd(amount) {
    if (amount === null || amount === undefined) return "—";
    const n = Number(amount);
    if (!Number.isFinite(n)) return String(amount);
    const sign = n < 0 ? "-" : "";
    const abs = Math.abs(n);
    if (abs === 0) return "$0";
    if (abs >= 1) {
      return sign + "$" + abs.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    // Three significant digits for small amounts, then the trailing zeros dropped: $0.000284, $0.00002.
    const digits = Math.min(12, Math.max(2, Math.ceil(-Math.log10(abs)) + 2));
    let text = abs.toFixed(digits);
    if (text.includes(".")) text = text.replace(/0+$/, "").replace(/\.$/, "");
    return sign + "$" + text;
  }

  function fmtMs(x) {
    if (x === null || x === undefined) return "—";
    return x >= 100 ? x.toFixed(0) : x.toFixed(1);
  }

  function fmtScore(x) {
    return x === null || x === undefined ? "—" : x.toFixed(2);
  }

  function fmtTime(iso, withDate) {
    const d = new Date(iso);
    const time = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    if (!withDate) return time;
    return d.toLocaleDateString("en-GB", { day: "numeric", month: "short" }) + " " + time;
  }

  function fmtBucket(iso, stepS, spanS) {
    const d = new Date(iso);
    const date = d.toLocaleDateString("en-GB", { day: "numeric", month: "short" });
    const time = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
    if (stepS >= 86400) return date;
    return spanS > 86400 ? date + " " + time : time;
  }

  function fmtStep(seconds) {
    if (seconds % 86400 === 0) return seconds / 86400 + " d";
    if (seconds % 3600 === 0) return seconds / 3600 + " h";
    if (seconds % 60 === 0) return seconds / 60 + " min";
    return seconds + " s";
  }

  // ---- DOM helpers ---------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
    }
  }

  function append(node, children) {
    if (children === null || children === undefined) return;
    for (const child of Array.isArray(children) ? children : [children]) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }

  // A number on the page: its stable name, the raw value and the text shown.
  function stat(name, value, text, tag, attrs) {
    return el(tag || "span", Object.assign({ "data-stat": name, "data-value": rawValue(value) }, attrs), text);
  }

  function svgStat(tag, name, value, attrs, text) {
    return svg(tag, Object.assign({ "data-stat": name, "data-value": rawValue(value) }, attrs), text);
  }

  function chartFrame(width, height, label) {
    return svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": label,
                        preserveAspectRatio: "xMidYMid meet" });
  }

  function emptyChart(container, message) {
    const frame = chartFrame(560, 80, message);
    frame.append(svg("text", { x: 280, y: 45, "text-anchor": "middle", class: "empty" }, message));
    container.replaceChildren(frame);
  }

  function niceMax(value) {
    if (value <= 0) return 1;
    const magnitude = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
      if (step * magnitude >= value) return step * magnitude;
    }
    return 10 * magnitude;
  }

  function truncate(text, max) {
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  // ---- headline ------------------------------------------------------------------------------------

  function renderHeadline(s) {
    $("card-requests").replaceChildren(stat("requests", s.requests, fmtCount(s.requests)));
    const statuses = Object.entries(s.by_status).sort((a, b) => b[1] - a[1]);
    const statusParts = [];
    for (const [name, count] of statuses) {
      if (statusParts.length) statusParts.push(" · ");
      statusParts.push(stat(`status-${name}`, count, fmtCount(count)), ` ${name}`);
    }
    $("card-status").replaceChildren(...(statusParts.length ? statusParts : ["none in this window"]));

    $("card-escalation").replaceChildren(stat("escalation-rate", s.escalation_rate, fmtShare(s.escalation_rate)));
    const kinds = Object.entries(s.escalations_by_kind).sort((a, b) => b[1] - a[1]);
    const kindParts = [];
    for (const [kind, count] of kinds.slice(0, 3)) {
      if (kindParts.length) kindParts.push(" · ");
      kindParts.push(stat(`escalations-${kind}`, count, fmtCount(count)), ` ${kind}`);
    }
    $("card-escalation-kinds").replaceChildren(...(kindParts.length ? kindParts : ["requests moved between tiers"]));

    $("card-frontier").replaceChildren(stat("frontier-share", s.frontier_share, fmtShare(s.frontier_share)));
    $("card-cost").replaceChildren(stat("cost-usd", s.cost_usd, fmtUsd(s.cost_usd)));

    const sv = s.savings;
    if (sv.baseline_provider && sv.saved_usd !== null) {
      $("card-savings").replaceChildren(
        stat("savings-usd", sv.saved_usd, fmtUsd(sv.saved_usd)), " ",
        stat("savings-share", sv.saved_share, sv.saved_share === null ? "" : `(${fmtShare(sv.saved_share)})`,
             "span", { class: "share" }));
      $("card-baseline").replaceChildren(
        "estimate: vs sending every answered request to ",
        stat("baseline-provider", sv.baseline_provider, sv.baseline_provider, "strong"),
        ", about ", stat("baseline-cost-usd", sv.baseline_cost_usd, fmtUsd(sv.baseline_cost_usd)));
    } else {
      $("card-savings").replaceChildren(stat("savings-usd", null, "—"));
      $("card-baseline").replaceChildren(sv.baseline_provider
        ? `estimate unavailable: no price for the baseline ${sv.baseline_provider}`
        : "no frontier provider configured, so no baseline to compare with");
    }
    $("card-feedback").replaceChildren(stat("feedback-count", s.feedback_count, fmtCount(s.feedback_count)));
  }

  // ---- charts --------------------------------------------------------------------------------------

  function tierKeys(s) {
    const keys = TIERS.slice();
    if (s.tiers.some((t) => t.tier === "none")) keys.push("none");
    return keys;
  }

  function renderTiers(s) {
    const container = $("chart-tiers");
    const byKey = Object.fromEntries(s.tiers.map((t) => [t.tier, t]));
    const keys = tierKeys(s);
    const W = 560, H = 270, top = 44, bottom = 46, left = 16, right = 16;
    const plotH = H - top - bottom;
    const slot = (W - left - right) / keys.length;
    const barW = Math.min(70, slot * 0.6);
    const max = Math.max(1, ...keys.map((k) => (byKey[k] ? byKey[k].requests : 0)));
    const frame = chartFrame(W, H, "requests per tier");
    frame.append(svg("line", { x1: left, x2: W - right, y1: top + plotH, y2: top + plotH, class: "axis" }));
    keys.forEach((key, i) => {
      const t = byKey[key];
      const count = t ? t.requests : 0;
      const share = t ? t.share : 0;
      const cx = left + slot * (i + 0.5);
      const h = (count / max) * plotH;
      const y = top + plotH - h;
      frame.append(svg("rect", { x: cx - barW / 2, y, width: barW, height: Math.max(h, count ? 1 : 0), rx: 3,
                                 fill: TIER_COLORS[key] },
                       svg("title", {}, `${TIER_NAMES[key]} (${TIER_ROLES[key]}): ${count} requests`)));
      frame.append(svgStat("text", `tier-${key}-requests`, count,
                           { x: cx, y: y - 22, "text-anchor": "middle", class: "value" }, fmtCount(count)));
      frame.append(svgStat("text", `tier-${key}-share`, share,
                           { x: cx, y: y - 7, "text-anchor": "middle", class: "sub" }, fmtShare(share)));
      frame.append(svg("text", { x: cx, y: top + plotH + 18, "text-anchor": "middle", class: "label" },
                       TIER_NAMES[key]));
      frame.append(svg("text", { x: cx, y: top + plotH + 34, "text-anchor": "middle", class: "sub" },
                       TIER_ROLES[key]));
    });
    container.replaceChildren(frame);
  }

  function renderLatency(s) {
    const container = $("chart-latency");
    const tiers = s.tiers.filter((t) => t.latency_p50_ms !== null || t.latency_p95_ms !== null);
    if (!tiers.length) return emptyChart(container, "No requests in this window");
    const W = 560, H = 270, top = 40, bottom = 46, left = 16, right = 16;
    const plotH = H - top - bottom;
    const slot = (W - left - right) / Math.max(tiers.length, 4);
    const offset = (W - left - right - slot * tiers.length) / 2;
    const barW = Math.min(34, slot * 0.32);
    const values = tiers.flatMap((t) => [t.latency_p50_ms, t.latency_p95_ms]).filter((v) => v !== null);
    const max = Math.max(0.001, ...values);
    const min = Math.max(0.001, Math.min(...values));
    // One slow tier would flatten the others on a linear scale: past a 20-fold spread, heights are logarithmic.
    const logScale = max / min > 20;
    const height = (v) => (logScale ? Math.log10(1 + v) / Math.log10(1 + max) : v / max) * plotH;
    const frame = chartFrame(W, H, "latency p50 and p95 by tier");
    if (logScale) frame.append(svg("text", { x: left, y: 16, class: "sub" }, "log scale"));
    frame.append(svg("line", { x1: left, x2: W - right, y1: top + plotH, y2: top + plotH, class: "axis" }));
    // legend
    frame.append(svg("rect", { x: W - right - 150, y: 6, width: 12, height: 12, rx: 2, class: "p50" }));
    frame.append(svg("text", { x: W - right - 132, y: 16, class: "sub" }, "p50"));
    frame.append(svg("rect", { x: W - right - 90, y: 6, width: 12, height: 12, rx: 2, class: "p95" }));
    frame.append(svg("text", { x: W - right - 72, y: 16, class: "sub" }, "p95"));
    tiers.forEach((t, i) => {
      const cx = left + offset + slot * (i + 0.5);
      const bars = [["p50", t.latency_p50_ms, cx - barW - 2], ["p95", t.latency_p95_ms, cx + 2]];
      for (const [name, value, x] of bars) {
        const h = value === null ? 0 : height(value);
        const y = top + plotH - h;
        frame.append(svg("rect", { x, y, width: barW, height: Math.max(h, value ? 1 : 0), rx: 2,
                                   class: name, fill: TIER_COLORS[t.tier] },
                         svg("title", {}, `${TIER_NAMES[t.tier]} ${name}: ${fmtMs(value)} ms`)));
        frame.append(svgStat("text", `tier-${t.tier}-latency-${name}-ms`, value,
                             { x: x + barW / 2, y: y - 6, "text-anchor": "middle", class: "sub" }, fmtMs(value)));
      }
      frame.append(svg("text", { x: cx, y: top + plotH + 18, "text-anchor": "middle", class: "label" },
                       TIER_NAMES[t.tier]));
      frame.append(svg("text", { x: cx, y: top + plotH + 34, "text-anchor": "middle", class: "sub" },
                       TIER_ROLES[t.tier]));
    });
    container.replaceChildren(frame);
  }

  function renderTimeline(s) {
    const container = $("chart-timeline");
    const buckets = s.timeline;
    $("timeline-step").replaceChildren(buckets.length ? `(one bar per ${fmtStep(s.timeline_bucket_s)})` : "");
    if (!buckets.length) return emptyChart(container, "No time buckets in this window");
    const keys = tierKeys(s);
    const W = 1160, H = 250, top = 34, bottom = 30, left = 46, right = 12;
    const plotH = H - top - bottom;
    const slot = (W - left - right) / buckets.length;
    const barW = Math.max(2, Math.min(40, slot * 0.72));
    const totals = buckets.map((b) => Object.values(b.by_tier).reduce((a, n) => a + n, 0));
    const peak = Math.max(0, ...totals);
    const max = niceMax(peak * 1.08);  // headroom for the total above the tallest bar
    const spanS = (new Date(s.until) - new Date(s.since)) / 1000;
    const frame = chartFrame(W, H, "requests over time by tier");
    // legend, top right
    let lx = W - right - keys.length * 92;
    for (const key of keys) {
      frame.append(svg("rect", { x: lx, y: 4, width: 12, height: 12, rx: 2, fill: TIER_COLORS[key] }));
      frame.append(svg("text", { x: lx + 17, y: 14, class: "sub" }, `${TIER_NAMES[key]}`));
      lx += 92;
    }
    frame.append(svg("line", { x1: left, x2: W - right, y1: top, y2: top, class: "gridline" }));
    frame.append(svg("line", { x1: left, x2: W - right, y1: top + plotH / 2, y2: top + plotH / 2, class: "gridline" }));
    frame.append(svg("line", { x1: left, x2: W - right, y1: top + plotH, y2: top + plotH, class: "axis" }));
    frame.append(svgStat("text", "timeline-axis-max", max, { x: left - 6, y: top + 4, "text-anchor": "end",
                                                              class: "sub" }, fmtCount(max)));
    frame.append(svgStat("text", "timeline-axis-mid", max / 2, { x: left - 6, y: top + plotH / 2 + 4,
                                                                  "text-anchor": "end", class: "sub" },
                         fmtCount(max / 2)));
    const labelEvery = Math.max(1, Math.ceil(buckets.length / Math.floor((W - left - right) / 90)));
    buckets.forEach((bucket, i) => {
      const x = left + slot * i + (slot - barW) / 2;
      let y = top + plotH;
      for (const key of keys) {
        const count = bucket.by_tier[key] || 0;
        if (!count) continue;
        const h = (count / max) * plotH;
        y -= h;
        frame.append(svgStat("rect", `timeline-${i}-tier-${key}`, count,
                             { x, y, width: barW, height: h, fill: TIER_COLORS[key] },
                             svg("title", {}, `${fmtBucket(bucket.start, s.timeline_bucket_s, spanS)} · ` +
                                              `${TIER_NAMES[key]}: ${count}`)));
      }
      if (totals[i] && barW >= 14) {
        frame.append(svgStat("text", `timeline-${i}-total`, totals[i],
                             { x: x + barW / 2, y: y - 4, "text-anchor": "middle", class: "sub" },
                             fmtCount(totals[i])));
      }
      if (i % labelEvery === 0) {
        frame.append(svgStat("text", `timeline-${i}-start`, bucket.start,
                             { x: left + slot * i + slot / 2, y: H - 10, "text-anchor": "middle", class: "sub" },
                             fmtBucket(bucket.start, s.timeline_bucket_s, spanS)));
      }
    });
    container.replaceChildren(frame);
  }

  function renderProviders(s) {
    const container = $("chart-providers");
    const providers = s.providers.slice().sort((a, b) => Number(b.cost_usd) - Number(a.cost_usd)
                                                         || b.requests - a.requests);
    if (!providers.length) return emptyChart(container, "No provider answered in this window");
    const rowH = 40, top = 8, W = 560, labelW = 190, right = 16;
    const H = top * 2 + providers.length * rowH;
    const barMax = W - labelW - right - 150;
    const max = Math.max(0, ...providers.map((p) => Number(p.cost_usd)));
    const frame = chartFrame(W, H, "cost by provider");
    providers.forEach((p, i) => {
      const y = top + i * rowH;
      const cost = Number(p.cost_usd);
      const w = max > 0 ? (cost / max) * barMax : 0;
      frame.append(svg("text", { x: labelW - 10, y: y + 18, "text-anchor": "end", class: "label" },
                       [truncate(p.provider, 26), svg("title", {}, p.provider)]));
      frame.append(svg("rect", { x: labelW, y: y + 6, width: barMax, height: 18, rx: 3, class: "track" }));
      frame.append(svg("rect", { x: labelW, y: y + 6, width: Math.max(w, cost > 0 ? 2 : 0), height: 18, rx: 3,
                                 class: "cost" }, svg("title", {}, `${p.provider}: ${fmtUsd(p.cost_usd)}`)));
      const valueX = labelW + barMax + 8;
      frame.append(svgStat("text", `provider-${p.provider}-cost-usd`, p.cost_usd,
                           { x: valueX, y: y + 20, class: "value small" }, fmtUsd(p.cost_usd)));
      const detail = [
        svgStat("tspan", `provider-${p.provider}-requests`, p.requests, {}, fmtCount(p.requests)),
        " requests",
      ];
      if (p.failed) {
        detail.push(" · ", svgStat("tspan", `provider-${p.provider}-failed`, p.failed, { class: "bad" },
                                   fmtCount(p.failed)), " failed");
      }
      detail.push(" · p50 ", svgStat("tspan", `provider-${p.provider}-latency-p50-ms`, p.latency_p50_ms, {},
                                     fmtMs(p.latency_p50_ms)), " ms");
      frame.append(svg("text", { x: labelW, y: y + 37, class: "sub" }, detail));
    });
    container.replaceChildren(frame);
  }

  // ---- tables --------------------------------------------------------------------------------------

  function tierCell(key) {
    return el("td", {}, [el("span", { class: "swatch", style: `background:${TIER_COLORS[key]}` }),
                         `${TIER_NAMES[key]} `, el("span", { class: "muted" }, TIER_ROLES[key])]);
  }

  function renderQuality(s) {
    const body = $("quality").tBodies[0];
    const rows = s.tiers.map((t) => el("tr", {}, [
      tierCell(t.tier),
      el("td", { class: "num" }, stat(`tier-${t.tier}-feedback-count`, t.feedback_count, fmtCount(t.feedback_count))),
      el("td", { class: "num" }, stat(`tier-${t.tier}-feedback-mean`, t.feedback_mean, fmtScore(t.feedback_mean))),
      el("td", { class: "num" }, stat(`tier-${t.tier}-self-quality-mean`, t.self_quality_mean,
                                      fmtScore(t.self_quality_mean))),
      el("td", { class: "num" }, stat(`tier-${t.tier}-tier-p50-ms`, t.tier_p50_ms, fmtMs(t.tier_p50_ms))),
      el("td", { class: "num" }, stat(`tier-${t.tier}-cost-usd`, t.cost_usd, fmtUsd(t.cost_usd))),
    ]));
    body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 6, class: "muted" },
                                                                   "No requests in this window"))]));
  }

  function renderRecent(s) {
    const body = $("recent").tBodies[0];
    const spanDays = (new Date(s.until) - new Date(s.since)) / 86400000 > 1;
    const rows = s.recent.map((r, i) => {
      const tierKey = r.tier === null ? "none" : String(r.tier);
      const path = r.tier_path.length ? r.tier_path.join(" → ") : "—";
      return el("tr", { class: r.status === "answered" ? "" : "row-bad" }, [
        el("td", {}, stat(`recent-${i}-at`, r.at, fmtTime(r.at, spanDays))),
        el("td", { class: "mono", title: r.request_id }, truncate(r.request_id, 22)),
        el("td", {}, r.workspace_id || "—"),
        tierCell(tierKey),
        el("td", {}, stat(`recent-${i}-tier-path`, r.tier_path, path)),
        el("td", { class: "mono" }, r.provider || "—"),
        el("td", {}, [el("span", { class: `status status-${r.status}` }, r.status),
                      r.error_code ? el("span", { class: "muted" }, ` ${r.error_code}`) : null]),
        el("td", {}, r.escalations.length ? r.escalations.join(", ") : "—"),
        el("td", { class: "num" }, stat(`recent-${i}-escalation-score`, r.escalation_score,
                                        fmtScore(r.escalation_score))),
        el("td", { class: "num" }, stat(`recent-${i}-latency-ms`, r.latency_ms, fmtMs(r.latency_ms))),
        el("td", { class: "num" }, stat(`recent-${i}-cost-usd`, r.cost_usd, fmtUsd(r.cost_usd))),
      ]);
    });
    body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 11, class: "muted" },
                                                                   "No requests in this window"))]));
  }

  function renderWindow(s) {
    const withDate = true;
    $("window-range").replaceChildren(
      "Window: ", stat("window-since", s.since, fmtTime(s.since, withDate)), " to ",
      stat("window-until", s.until, fmtTime(s.until, withDate)),
      s.workspace_id ? ` · workspace ${s.workspace_id}` : " · all workspaces");
    const now = new Date();
    $("updated").replaceChildren("updated ", stat("updated-at", now.toISOString(), fmtTime(now.toISOString())));
  }

  function render(s) {
    renderHeadline(s);
    renderTiers(s);
    renderLatency(s);
    renderTimeline(s);
    renderProviders(s);
    renderQuality(s);
    renderRecent(s);
    renderWindow(s);
  }

  // ---- fetching ------------------------------------------------------------------------------------

  function showError(message) {
    document.body.dataset.error = message;
    $("error").textContent = message;
    $("error").hidden = false;
  }

  function clearError() {
    delete document.body.dataset.error;
    $("error").hidden = true;
    $("error").textContent = "";
  }

  function showAuth(message) {
    $("auth-message").textContent = message;
    $("auth").hidden = false;
    $("api-key").focus();
  }

  function query() {
    const params = new URLSearchParams();
    params.set("since", $("window").value);
    const workspace = $("workspace").value.trim();
    if (workspace) params.set("workspace", workspace);
    return params;
  }

  async function load() {
    const mine = ++generation;
    clearTimeout(timer);
    if (controller) controller.abort();
    controller = new AbortController();
    const headers = { Accept: "application/json" };
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers.Authorization = `Bearer ${key}`;
    let refreshAgain = true;
    try {
      const response = await fetch(`${API_BASE}/v1/routing/stats?${query()}`,
                                   { headers, cache: "no-store", signal: controller.signal });
      let body = null;
      try {
        body = await response.json();
      } catch (_) {
        body = null;
      }
      if (mine !== generation) return;
      if (!response.ok) {
        const message = (body && body.error && body.error.message) || `HTTP ${response.status}`;
        if (response.status === 401 || response.status === 403) {
          showAuth(message);
          refreshAgain = false;  // nothing will change until a key is given
        }
        throw new Error(`${response.status}: ${message}`);
      }
      $("auth").hidden = true;
      render(body);
      clearError();
      document.body.dataset.ready = "true";
    } catch (err) {
      if (err.name === "AbortError" || mine !== generation) return;
      showError(err.message || String(err));
      $("updated").replaceChildren("update failed");
    } finally {
      if (mine === generation && refreshAgain) timer = setTimeout(load, REFRESH_MS);
    }
  }

  function remember() {
    const params = query();
    history.replaceState(null, "", `${location.pathname}?${params}`);
  }

  function start() {
    const given = new URLSearchParams(location.search);
    const since = given.get("since");
    const select = $("window");
    if (since) {
      if (![...select.options].some((o) => o.value === since)) {
        select.append(el("option", { value: since }, `since ${since}`));
      }
      select.value = since;
    }
    if (given.get("workspace")) $("workspace").value = given.get("workspace");
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) $("api-key").value = key;

    select.addEventListener("change", () => { remember(); load(); });
    $("workspace").addEventListener("change", () => { remember(); load(); });
    $("controls").addEventListener("submit", (event) => { event.preventDefault(); remember(); load(); });
    $("auth-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("api-key").value.trim();
      if (value) sessionStorage.setItem(KEY_STORAGE, value);
      else sessionStorage.removeItem(KEY_STORAGE);
      load();
    });
    $("forget-key").addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORAGE);
      $("api-key").value = "";
      load();
    });
    load();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
