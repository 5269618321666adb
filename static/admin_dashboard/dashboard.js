/* The CRM console's dashboard: the custom-date inputs and the charts (Chart.js, vendored
   under static/vendor/chartjs). Data comes from the page's JSON (json_script). */
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function customDates() {
    var form = document.getElementById("kpi-filters");
    if (!form) return;
    var period = form.querySelector("select[name=period]");
    var custom = form.querySelectorAll(".kpi-custom");
    function toggle() {
      custom.forEach(function (el) {
        el.hidden = period.value !== "custom";
      });
    }
    period.addEventListener("change", toggle);
    toggle();
  }

  function css(name, fallback) {
    var root = document.querySelector(".kpi-dashboard") || document.body;
    var v = getComputedStyle(root).getPropertyValue(name).trim();
    return v || fallback;
  }

  var euro = new Intl.NumberFormat("en", { style: "currency", currency: "EUR", maximumFractionDigits: 0 });
  var integer = new Intl.NumberFormat("en");
  var PALETTE = ["#2f6f8f", "#c58b2b", "#3d8b5a", "#8e4c7f", "#b5523b", "#5d6d7e", "#7f8c3a"];

  function num(list) {
    return list.map(function (v) { return v === null ? null : Number(v); });
  }

  function baseOptions(format, extra) {
    var text = css("--body-quiet-color", "#666");
    var grid = css("--hairline-color", "#e8e8e8");
    var opts = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: {
        legend: { labels: { color: text, boxWidth: 14 } },
        tooltip: {
          callbacks: {
            label: function (ctx) {
              var v = typeof ctx.parsed === "object" ? ctx.parsed.y : ctx.parsed;
              return (ctx.dataset.label ? ctx.dataset.label + ": " : "") + (v === null ? "–" : format(v));
            }
          }
        }
      },
      scales: {
        x: { ticks: { color: text }, grid: { color: grid } },
        y: { ticks: { color: text, callback: function (v) { return format(v); } }, grid: { color: grid }, beginAtZero: true }
      }
    };
    return Object.assign(opts, extra || {});
  }

  function pair(data, labels, format, type, extra) {
    return {
      type: type,
      data: {
        labels: labels,
        datasets: [
          {
            label: "This period",
            data: num(data.current),
            backgroundColor: css("--kpi-current", "#2f6f8f"),
            borderColor: css("--kpi-current", "#2f6f8f"),
            borderWidth: type === "line" ? 2 : 0,
            pointRadius: type === "line" ? 1.5 : 0,
            tension: 0
          },
          {
            label: "Previous period",
            data: num(data.previous),
            backgroundColor: css("--kpi-previous", "#b9c4ca"),
            borderColor: css("--kpi-previous", "#b9c4ca"),
            borderWidth: type === "line" ? 2 : 0,
            borderDash: type === "line" ? [5, 4] : undefined,
            pointRadius: 0,
            tension: 0
          }
        ]
      },
      options: baseOptions(format, extra)
    };
  }

  function percent(v) { return v + " %"; }

  function configs(d) {
    var distinct = new Set(d.tiers.colors).size === d.tiers.colors.length;
    var tierColors = distinct ? d.tiers.colors : PALETTE.slice(0, d.tiers.labels.length);
    var text = css("--body-quiet-color", "#666");
    return {
      trend: pair(d.trend, d.trend.labels, euro.format, "line"),
      stores: pair(d.stores, d.stores.labels, euro.format, "bar"),
      tierRevenue: pair(d.tiers, d.tiers.labels, euro.format, "bar"),
      conversion: pair(d.conversion, d.conversion.labels, percent, "bar"),
      carats: pair(d.carats, d.carats.labels, integer.format, "bar"),
      tiers: {
        type: "doughnut",
        data: {
          labels: d.tiers.labels,
          datasets: [{ data: d.tiers.members, backgroundColor: tierColors, borderWidth: 1 }]
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          plugins: { legend: { position: "right", labels: { color: text, boxWidth: 14 } } }
        }
      }
    };
  }

  function charts() {
    var source = document.getElementById("kpi-data");
    if (!source || !window.Chart) return;
    var all = configs(JSON.parse(source.textContent));
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var config = all[canvas.dataset.chart];
      if (!config) return;
      new window.Chart(canvas, config);
      canvas.dataset.ready = "1";
    });
  }

  onReady(function () {
    customDates();
    charts();
  });
})();
