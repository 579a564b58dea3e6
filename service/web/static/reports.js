// The dashboard's charts: Apache ECharts (vendored in /static, no CDN), drawn as SVG so they print sharply.
"use strict";
(function () {
  // The period picker shows the fields of the chosen kind only.
  var kind = document.querySelector("[data-period-kind]");
  function show() {
    document.querySelectorAll("[data-for]").forEach(function (el) {
      el.hidden = el.dataset.for.split(" ").indexOf(kind.value) < 0;
    });
  }
  if (kind) { kind.addEventListener("change", show); show(); }
  var node = document.getElementById("report-data");
  if (!node) return;
  // The figures and tables are on the page already; the chart library (1 MB, 330 kB gzipped) loads
  // after them, so a slow phone sees the numbers first and the charts a moment later.
  if (window.echarts) { draw(); return; }
  var lib = document.createElement("script");
  lib.src = node.dataset.echarts;
  lib.async = true;
  lib.onload = draw;
  document.head.appendChild(lib);

  function draw() {
  var r = JSON.parse(node.textContent);
  var names = r.names;
  var fig = {};
  r.figures.forEach(function (f) { fig[f.key] = f; });
  var palette = ["#c8102e", "#2e6fd8", "#f2a900", "#137333", "#7a4cc2", "#667085"];
  // Chart text as large as the page's (issue 22): 14 px, 18 px in 长辈版.
  var textPx = document.documentElement.classList.contains("elder") ? 18 : 14;
  var label = { fontSize: textPx };
  var base = { color: palette, animation: false, textStyle: { fontSize: textPx },
    grid: { left: 8, right: 8, top: 48, bottom: 8, containLabel: true },
    legend: { top: 0, type: "scroll", itemWidth: 12, itemHeight: 8, textStyle: { fontSize: textPx } },
    tooltip: { trigger: "axis" } };
  function months(keys, kinds, axes) {
    return Object.assign({}, base, {
      xAxis: { type: "category", data: r.months, axisLabel: label },
      yAxis: axes > 1 ? [{ type: "value", axisLabel: label }, { type: "value", axisLabel: label, splitLine: { show: false } }] : { type: "value", axisLabel: label },
      series: keys.map(function (k, i) {
        return { name: names[k], type: kinds[i], data: fig[k].months, yAxisIndex: axes > 1 && kinds[i] === "line" ? 1 : 0,
          smooth: true, barMaxWidth: 24 };
      })
    });
  }
  var builders = {
    volunteers: function () {
      return months(["active_volunteers", "checkins", "people_served", "service_hours"], ["bar", "bar", "bar", "line"], 2);
    },
    points: function () {
      return months(["points_issued", "points_spent", "points_expired", "points_outstanding"], ["bar", "bar", "bar", "line"], 2);
    },
    funnel: function () {
      var keys = ["wishes_posted", "wishes_dispatched", "wishes_accepted", "wishes_completed", "wishes_rated"];
      return Object.assign({}, base, { tooltip: { trigger: "item" }, legend: { show: false },
        series: [{ type: "funnel", sort: "none", left: "10%", width: "80%", top: 16, bottom: 8, minSize: "10%",
          label: { position: "inside", formatter: "{b}: {c}", fontSize: textPx, color: "#1f2328", textBorderColor: "#fff", textBorderWidth: 3 },
          data: keys.map(function (k) { return { name: names[k], value: fig[k].total || 0 }; }) }] });
    },
    children: function () {
      var f = fig.service_hours;
      return Object.assign({}, base, { legend: { show: false }, grid: { left: 8, right: 24, top: 24, bottom: 8, containLabel: true },
        title: { text: names.service_hours, textStyle: { fontSize: textPx } },
        xAxis: { type: "value", axisLabel: label }, yAxis: { type: "category", data: f.children.map(function (c) { return c.name; }), inverse: true, axisLabel: label },
        series: [{ type: "bar", data: f.children.map(function (c) { return c.total; }), barMaxWidth: 18, label: { show: true, position: "right", fontSize: textPx } }] });
    }
  };
  var charts = [];
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption(builders[el.dataset.chart]());
    charts.push(chart);
    el.dataset.drawn = "1";
  });
  function resize() { charts.forEach(function (c) { c.resize(); }); }
  window.addEventListener("resize", resize);
  window.addEventListener("beforeprint", resize);
  window.addEventListener("afterprint", resize);
  }
})();
