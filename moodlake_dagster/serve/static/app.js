// MoodLake serve: the listener's page. Fetches the JSON API with the listener's token and
// draws plain SVG charts (no library, no network beyond this server). Data is only ever
// put into the page as text, never as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const DAY_PARTS = ["night", "morning", "afternoon", "evening"];
const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const COLOURS = { valence: "#e07a1f", energy: "#2a6fdb" };

function token() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  const given = hash.get("token") || query.get("token");
  if (given) {
    sessionStorage.setItem("moodlake-token", given);
    history.replaceState(null, "", location.pathname); // keep it out of history and Referer
  }
  return sessionStorage.getItem("moodlake-token");
}

const TOKEN = token();

async function api(path) {
  const headers = TOKEN ? { Authorization: "Bearer " + TOKEN } : {};
  const response = await fetch(path, { headers });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function fmt(x, digits = 2) {
  return x === null || x === undefined ? "–" : Number(x).toFixed(digits);
}

function empty(box, message) {
  box.replaceChildren(el("p", { class: "note" }, message));
}

// A line chart of several series over x; every value is a circle.point with a title.
// With `domain` ([lo, hi]) rows sit at their x value (hours 0–23); without, evenly in order.
function lineChart(box, rows, xKey, series, xLabel, domain = null) {
  if (!rows.length) return empty(box, "no plays with audio features yet");
  const W = 640, H = 240, L = 34, R = 18, T = 14, B = 30, yMax = 1;
  const xs = rows.map((r) => r[xKey]);
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  const span = domain ? domain[1] - domain[0] : rows.length - 1;
  const at = (i) => (domain ? xs[i] - domain[0] : i);
  const x = (i) => L + (span === 0 ? (W - L - R) / 2 : (at(i) * (W - L - R)) / span);
  const y = (v) => T + (1 - v / yMax) * (H - T - B);
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(svgEl("line", { x1: L, x2: W - R, y1: y(v * yMax), y2: y(v * yMax), stroke: "#eee" }));
    svg.append(svgEl("text", { x: 2, y: y(v * yMax) + 4 }, (v * yMax).toFixed(2)));
  }
  const step = Math.max(1, Math.ceil(rows.length / 12));
  xs.forEach((label, i) => {
    if (i % step === 0) svg.append(svgEl("text", { x: x(i), y: H - 10, "text-anchor": "middle" }, xLabel(label)));
  });
  for (const [key, name] of series) {
    const colour = COLOURS[name] || "#555";
    const points = rows
      .map((r, i) => [i, r[key]])
      .filter(([, v]) => v !== null && v !== undefined);
    if (points.length > 1) {
      const d = points.map(([i, v], n) => `${n ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      svg.append(svgEl("path", { d, fill: "none", stroke: colour, "stroke-width": 2 }));
    }
    for (const [i, v] of points) {
      const dot = svgEl("circle", { class: "point", cx: x(i), cy: y(v), r: 3.5, fill: colour, "data-series": name });
      dot.append(svgEl("title", {}, `${name} ${fmt(v)} at ${xLabel(xs[i])}`));
      svg.append(dot);
    }
  }
  series.forEach(([, name], n) => {
    svg.append(svgEl("rect", { x: L + 10 + n * 90, y: 2, width: 10, height: 10, fill: COLOURS[name] }));
    svg.append(svgEl("text", { x: L + 24 + n * 90, y: 11 }, name));
  });
  box.replaceChildren(svg);
}

// Day part × weekday: a rect.cell per cell with plays, coloured by mean valence.
function heatmap(box, rows) {
  if (!rows.length) return empty(box, "no plays yet");
  const W = 640, H = 200, L = 74, T = 20, cw = (W - L - 6) / 7, ch = (H - T - 6) / 4;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  WEEKDAYS.forEach((d, i) => svg.append(svgEl("text", { x: L + i * cw + cw / 2 - 10, y: 14 }, d)));
  DAY_PARTS.forEach((p, j) => svg.append(svgEl("text", { x: 2, y: T + j * ch + ch / 2 + 4 }, p)));
  for (const r of rows) {
    const i = r.weekday - 1, j = DAY_PARTS.indexOf(r.day_part);
    if (j < 0) continue;
    const v = r.avg_valence;
    const fill = v === null ? "#ddd" : `hsl(${30 + 180 * (1 - v)}, 70%, ${35 + 40 * v}%)`;
    const cell = svgEl("rect", { class: "cell", x: L + i * cw + 1, y: T + j * ch + 1, width: cw - 2, height: ch - 2, rx: 4, fill });
    cell.append(svgEl("title", {}, `${WEEKDAYS[i]} ${r.day_part}: ${r.plays} plays, valence ${fmt(v)}, energy ${fmt(r.avg_energy)}`));
    svg.append(cell);
    svg.append(svgEl("text", { x: L + i * cw + cw / 2 - 6, y: T + j * ch + ch / 2 + 4, style: "fill:#fff" }, r.plays));
  }
  box.replaceChildren(svg);
}

// Horizontal bars: a rect.bar per row.
function bars(box, rows, label, value, detail) {
  if (!rows.length) return empty(box, "nothing yet");
  const W = 640, row = 26, L = 210, H = rows.length * row + 6;
  const max = Math.max(...rows.map(value), 1e-9);
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  rows.forEach((r, n) => {
    const w = ((W - L - 60) * value(r)) / max;
    svg.append(svgEl("text", { x: 2, y: n * row + 17 }, label(r).slice(0, 32)));
    const bar = svgEl("rect", { class: "bar", x: L, y: n * row + 4, width: Math.max(w, 1), height: row - 8, rx: 3, fill: "#5b8def" });
    bar.append(svgEl("title", {}, detail(r)));
    svg.append(bar);
    svg.append(svgEl("text", { x: L + w + 6, y: n * row + 17 }, (100 * value(r)).toFixed(0) + "%"));
  });
  box.replaceChildren(svg);
}

function picks(list, answer) {
  list.replaceChildren();
  if (!answer.picks.length) {
    list.append(el("li", { class: "why" }, answer.why));
    return;
  }
  for (const p of answer.picks) {
    const item = el("li", { class: "pick", "data-track": p.track_id });
    item.append(el("div", { class: "title" }, `${p.track_name} — ${p.artists}`));
    const score = answer.mode === "coach" ? `improvement ${fmt(p.improvement_score)}` : `match ${fmt(p.match_score)}`;
    const fresh = p.new_artist ? " · new artist" : "";
    item.append(el("div", { class: "meta" }, `${p.genre}${fresh} · ${score} · Δvalence ${fmt(p.delta_valence)} · Δenergy ${fmt(p.delta_energy)}`));
    if (p.sentence) item.append(el("div", { class: "sentence" }, p.sentence));
    list.append(item);
  }
}

// Without a day part: the server's choice, now in the listener's time zone.
async function showPicks(part) {
  const coach = await api("/api/me/recommendations?mode=coach" + (part ? `&day_part=${part}` : ""));
  part = coach.day_part;
  const mirror = await api(`/api/me/recommendations?mode=mirror&day_part=${part}`);
  document.getElementById("part-name").textContent = part;
  for (const b of document.querySelectorAll("#day-parts button")) b.setAttribute("aria-pressed", String(b.dataset.part === part));
  const recent = coach.recent;
  document.getElementById("coach-recent").textContent = recent
    ? `one small step up from ${recent.over} (valence ${fmt(recent.valence)}, energy ${fmt(recent.energy)})` +
      (recent.coach_nudging ? ` — after ${recent.low_valence_days} low-valence days, brighter tracks only` : "")
    : "";
  picks(document.getElementById("coach"), coach);
  picks(document.getElementById("mirror"), mirror);
}

async function main() {
  const me = await api("/api/me");
  document.getElementById("who").textContent =
    `${me.user_id} · ${me.timezone} · ${me.plays} plays · as of ${me.as_of_date}`;
  document.getElementById("tz-note").textContent = `local hours, ${me.timezone}; valence and energy 0–1`;
  const nav = document.getElementById("day-parts");
  for (const part of DAY_PARTS) {
    const b = el("button", { type: "button", "data-part": part }, part);
    b.addEventListener("click", () => showPicks(part).catch(fail));
    nav.append(b);
  }
  const [moods, modes, genres, insights] = await Promise.all([
    api("/api/me/moods"),
    api("/api/me/modes"),
    api("/api/me/genres"),
    api("/api/me/insights"),
  ]);
  lineChart(document.getElementById("chart-hour"), moods.by_hour, "local_hour",
    [["avg_valence", "valence"], ["avg_energy", "energy"]], (h) => `${h}h`, [0, 23]);
  heatmap(document.getElementById("chart-week"), moods.by_day_part_weekday);
  lineChart(document.getElementById("chart-day"), moods.by_day, "local_date",
    [["valence_mean", "valence"], ["energy_mean", "energy"]], (d) => String(d).slice(5));
  if (modes.modes.length) {
    bars(document.getElementById("chart-modes"), modes.modes, (m) => m.name, (m) => m.share,
      (m) => `${m.name}: ${m.plays} plays, mostly ${m.typical_day_part}s`);
  } else empty(document.getElementById("chart-modes"), modes.why);
  bars(document.getElementById("chart-genres"), genres.top, (g) => g.genre, (g) => g.share,
    (g) => `${g.genre}: ${fmt(g.plays, 1)} plays`);
  const gaps = document.getElementById("gaps");
  gaps.replaceChildren();
  if (genres.gaps.length) {
    const head = el("tr");
    for (const h of ["feature", "you", "catalog", "gap (sd)"]) head.append(el("th", {}, h));
    gaps.append(head);
    for (const g of genres.gaps) {
      const tr = el("tr");
      tr.append(el("td", {}, g.feature), el("td", { class: "num" }, fmt(g.user_mean)),
        el("td", { class: "num" }, fmt(g.catalog_mean)), el("td", { class: "num" }, fmt(g.gap)));
      gaps.append(tr);
    }
  }
  const unexplored = document.getElementById("unexplored");
  unexplored.replaceChildren(...genres.unexplored.map((g) => el("li", {}, `${g.genre} (closeness ${fmt(g.affinity)})`)));
  const said = document.getElementById("insights");
  said.replaceChildren(...insights.insights.map((i) => el("li", {}, i.sentence)));
  if (!insights.insights.length) said.append(el("li", { class: "note" }, "nothing the data supports saying yet"));
  await showPicks(null);
  document.body.dataset.ready = "true";
}

function fail(err) {
  const box = document.getElementById("error");
  box.hidden = false;
  box.textContent = TOKEN || !/token/.test(err.message)
    ? err.message
    : "Open this page with your access token: /#token=… (moodlake serve token --user NAME)";
}

main().catch(fail);
