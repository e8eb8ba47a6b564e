// The script of loadgen's HTML report pages: draws every chart spec found in the
// data JSON block (id "data") with uPlot, then sets document.body.dataset.chartsRendered
// to the number of canvas elements holding at least one drawn (non-blank) pixel, so a
// headless browser's DOM dump shows whether the charts rendered.
//
// A chart spec (built in Rust, src/report/html.rs): { id, title, x: "seconds" |
// "percentile" | "rate", y: axis label, xs: [x...], series: [{ label, color, dash?, width?,
// values }] } (dash: true for [6, 4], or a pattern of its own).
// It is drawn into the element with id "plot-" + id.
(function () {
  "use strict";
  var HEIGHT = 280;
  // Tick steps of a time axis, in whole seconds.
  var SECOND_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400,
                      28800, 86400];
  var body = document.body;
  var plots = [];

  function fmtNum(v) {
    if (v == null) return "\u2013";
    var a = Math.abs(v);
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    return v.toFixed(3);
  }

  // x = 1/(1-p) at a decade (or 1, 2) as a tick label: 1 -> 0%, 2 -> 50%, 1000 -> 99.9%.
  function pctTick(x) {
    var digits = Math.max(0, Math.round(Math.log10(x)) - 2);
    return (100 * (1 - 1 / x)).toFixed(digits) + "%";
  }

  // Any x = 1/(1-p) as a legend value, with enough digits to tell the tail apart.
  function pctLegend(x) {
    var digits = Math.max(1, Math.ceil(Math.log10(x)) - 1);
    return (100 * (1 - 1 / x)).toFixed(digits) + "%";
  }

  function pctSplits(u, axisIdx, min, max) {
    var out = [];
    [1, 2].forEach(function (x) { if (x >= min && x <= max) out.push(x); });
    for (var x = 10; x <= max * 1.000001; x *= 10) if (x >= min) out.push(x);
    return out;
  }

  function xOptions(spec) {
    if (spec.x === "percentile") {
      return {
        scale: { time: false, distr: 3, log: 10,
                 range: function (u, min, max) { return [1, Math.max(10, max || 10)]; } },
        axis: { label: "percentile", splits: pctSplits,
                filter: function (u, splits) { return splits; },
                values: function (u, splits) {
                  return splits.map(function (x) { return x == null ? "" : pctTick(x); });
                } },
        value: function (u, v) { return v == null ? "\u2013" : pctLegend(v); }
      };
    }
    if (spec.x === "rate") {
      return {
        scale: { time: false,
                 range: function (u, min, max) {
                   if (min == null || max == null) return [0, 1];
                   return [0, max > 0 ? max * 1.05 : 1];
                 } },
        axis: { label: "offered rate (loads/s)" },
        value: function (u, v) { return v == null ? "\u2013" : v + " /s"; }
      };
    }
    return {
      scale: { time: false,
               range: function (u, min, max) {
                 if (min == null || max == null) return [0, 1];
                 return [min, max > min ? max : min + 1];
               } },
      axis: { label: "seconds since start", incrs: SECOND_STEPS },
      value: function (u, v) { return v == null ? "\u2013" : v + " s"; }
    };
  }

  function options(spec, width) {
    var x = xOptions(spec);
    var series = [{ label: x.axis.label, value: x.value }];
    spec.series.forEach(function (s) {
      series.push({
        label: s.label,
        stroke: s.color,
        width: s.width || 2,
        dash: Array.isArray(s.dash) ? s.dash : (s.dash ? [6, 4] : undefined),
        points: { show: spec.xs.length <= 60, size: 5 },
        value: function (u, v) { return fmtNum(v); }
      });
    });
    return {
      width: width,
      height: HEIGHT,
      series: series,
      scales: {
        x: x.scale,
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } }
      },
      axes: [x.axis, { label: spec.y, size: 64 }],
      cursor: { drag: { x: true, y: false } }
    };
  }

  function draw(spec) {
    var el = document.getElementById("plot-" + spec.id);
    if (!el) throw new Error("no element plot-" + spec.id);
    var rows = [spec.xs].concat(spec.series.map(function (s) { return s.values; }));
    var u = new uPlot(options(spec, el.clientWidth || 800), rows, el);
    plots.push({ el: el, u: u });
  }

  function fail(spec, e) {
    var el = document.getElementById("plot-" + spec.id);
    var msg = spec.id + ": " + (e && e.message ? e.message : e);
    if (el) { el.className += " failed"; el.textContent = "This chart failed to draw: " + msg; }
    body.dataset.chartsError = (body.dataset.chartsError ? body.dataset.chartsError + "; " : "") + msg;
  }

  function hasInk(canvas) {
    try {
      var px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      for (var i = 0; i < px.length; i += 4) {
        if (px[i + 3] > 0 && (px[i] < 250 || px[i + 1] < 250 || px[i + 2] < 250)) return true;
      }
    } catch (e) { /* a zero-sized canvas throws: it holds nothing */ }
    return false;
  }

  function countRendered() {
    var n = 0, all = document.getElementsByTagName("canvas");
    for (var i = 0; i < all.length; i++) if (hasInk(all[i])) n++;
    body.dataset.chartsRendered = String(n);
  }

  function resizeAll() {
    plots.forEach(function (p) { p.u.setSize({ width: p.el.clientWidth, height: HEIGHT }); });
  }

  var data;
  try {
    data = JSON.parse(document.getElementById("data").textContent);
  } catch (e) {
    body.dataset.chartsError = "bad data JSON: " + e.message;
    data = { charts: [] };
  }
  (data.charts || []).forEach(function (spec) {
    try { draw(spec); } catch (e) { fail(spec, e); }
  });
  // uPlot draws in a microtask after construction: count once it has.
  setTimeout(countRendered, 50);
  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(resizeAll, 100);
  });
})();
