// Live page: every 5 s refresh the topic table (firing first, then by volume; quiet topics folded into one
// expandable line) from /api/topics and the recent alert state changes from /api/alerts. Builds DOM nodes with
// textContent only (never innerHTML), so topic names and summaries from the stream cannot inject markup.
(function () {
  "use strict";
  var table = document.getElementById("topics");
  if (!table) { return; }
  var quietTable = document.getElementById("quiet-topics");
  var quietBox = document.getElementById("quiet");
  var quietCount = document.getElementById("quiet-count");
  var alertList = document.getElementById("alerts");
  var SVG = "http://www.w3.org/2000/svg";
  function pct(x) {
    if (x === null || x === undefined) { return "\u2014"; }
    return (x !== 0 && Math.abs(x) < 0.1 ? (x * 100).toFixed(1) : Math.round(x * 100)) + "%";
  }
  function cell(tag, text) { var c = document.createElement(tag); c.textContent = text; return c; }
  function spark(values) {
    var w = 160, h = 28, svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark"); svg.setAttribute("width", w); svg.setAttribute("height", h);
    var pts = [], n = Math.max(values.length - 1, 1);
    values.forEach(function (v, i) { if (v !== null) { pts.push((i * w / n).toFixed(1) + "," + (h - v * h).toFixed(1)); } });
    if (pts.length > 1) {
      var line = document.createElementNS(SVG, "polyline");
      line.setAttribute("fill", "none"); line.setAttribute("stroke", "#c0392b"); line.setAttribute("stroke-width", "1.5");
      line.setAttribute("points", pts.join(" ")); svg.appendChild(line);
    }
    return svg;
  }
  function row(r) {
    var tr = document.createElement("tr");
    var th = cell("th", r.topic); th.setAttribute("scope", "row"); tr.appendChild(th);
    var st = document.createElement("td");
    if (r.fingerprint) {
      var a = cell("a", "firing"); a.className = "firing"; a.href = "/incidents/" + encodeURIComponent(r.fingerprint); st.appendChild(a);
    } else { var s = cell("span", "ok"); s.className = "ok"; st.appendChild(s); }
    tr.appendChild(st);
    tr.appendChild(cell("td", String(r.n_hour))); tr.appendChild(cell("td", String(r.n)));
    tr.appendChild(cell("td", pct(r.neg1))); tr.appendChild(cell("td", pct(r.neg5)));
    var sp = document.createElement("td"); sp.appendChild(spark(r.spark)); tr.appendChild(sp);
    return tr;
  }
  function placeholder(text) {
    var tr = document.createElement("tr"), td = cell("td", text);
    tr.className = "empty"; td.setAttribute("colspan", "7"); tr.appendChild(td);
    return tr;
  }
  function fill(body, nodes) {
    while (body.firstChild) { body.removeChild(body.firstChild); }
    nodes.forEach(function (n) { body.appendChild(n); });
  }
  function showTopics(rows) {
    var active = rows.filter(function (r) { return !r.quiet; }).map(row);
    var quiet = rows.filter(function (r) { return r.quiet; }).map(row);
    if (!active.length) { active = [placeholder(rows.length ? "no posts in the last hour" : "no windows yet")]; }
    fill(table.tBodies[0], active);
    if (quietTable) { fill(quietTable.tBodies[0], quiet); }
    if (quietCount) { quietCount.textContent = String(quiet.length); }
    if (quietBox) { quietBox.hidden = quiet.length === 0; }
    document.body.setAttribute("data-refreshed", String(rows.length));
  }
  function alertItem(a) {
    var li = document.createElement("li"), st = cell("span", a.status), link = cell("a", a.topic);
    st.className = a.status === "resolved" ? "resolved" : "firing";
    link.href = "/incidents/" + encodeURIComponent(a.fingerprint);
    var when = cell("span", a.at); when.className = "muted";
    [st, document.createTextNode(" "), when, document.createTextNode(" "), link,
     document.createTextNode(" " + (a.signal || "") + " \u2014 " + (a.summary || ""))].forEach(function (n) { li.appendChild(n); });
    return li;
  }
  function showAlerts(items) {
    if (!alertList) { return; }
    var nodes = items.map(alertItem);
    if (!nodes.length) { var li = cell("li", "none yet"); li.className = "empty"; nodes = [li]; }
    fill(alertList, nodes);
    document.body.setAttribute("data-alerts", String(items.length));
  }
  function get(url, show) {
    if (!url) { return; }
    fetch(url, { cache: "no-store", credentials: "same-origin" })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (data) { if (Array.isArray(data)) { show(data); } })
      .catch(function () { /* keep what is shown */ });
  }
  function refresh() {
    get(table.getAttribute("data-api"), showTopics);
    if (alertList) { get(alertList.getAttribute("data-api"), showAlerts); }
  }
  refresh();
  setInterval(refresh, 5000);
}());
