// Live topic table: refresh rows from /api/topics every 5 s. Builds DOM nodes with textContent only (never
// innerHTML), so topic names from the stream cannot inject markup.
(function () {
  "use strict";
  var table = document.getElementById("topics");
  if (!table) { return; }
  var SVG = "http://www.w3.org/2000/svg";
  function pct(x) { return x === null || x === undefined ? "\u2014" : Math.round(x * 100) + "%"; }
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
    tr.appendChild(cell("td", String(r.n))); tr.appendChild(cell("td", pct(r.neg1))); tr.appendChild(cell("td", pct(r.neg5)));
    var st = document.createElement("td");
    if (r.fingerprint) {
      var a = cell("a", "firing"); a.className = "firing"; a.href = "/incidents/" + encodeURIComponent(r.fingerprint); st.appendChild(a);
    } else { var s = cell("span", "ok"); s.className = "ok"; st.appendChild(s); }
    tr.appendChild(st);
    var sp = document.createElement("td"); sp.appendChild(spark(r.spark)); tr.appendChild(sp);
    return tr;
  }
  function refresh() {
    fetch(table.getAttribute("data-api"), { cache: "no-store", credentials: "same-origin" })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (rows) {
        if (!rows) { return; }
        var body = table.tBodies[0];
        while (body.firstChild) { body.removeChild(body.firstChild); }
        rows.forEach(function (r) { body.appendChild(row(r)); });
        document.body.setAttribute("data-refreshed", String(rows.length));
      })
      .catch(function () { /* keep the last table */ });
  }
  refresh();
  setInterval(refresh, 5000);
}());
