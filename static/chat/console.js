// The tenant console: charts of the daily statistics embedded in the page (#stats).
(() => {
  const days = JSON.parse(document.getElementById("stats").textContent);
  const labels = days.map((d) => d.day.slice(5));
  const palette = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2"];
  const charts = (window.consoleCharts = []);
  // Axis text and grid lines in the page's colours (light or dark).
  const style = getComputedStyle(document.documentElement);
  Chart.defaults.color = style.getPropertyValue("--muted").trim();
  Chart.defaults.borderColor = style.getPropertyValue("--line").trim();

  function chart(id, type, datasets, options = {}) {
    const canvas = document.getElementById(id);
    charts.push(
      new Chart(canvas, {
        type,
        data: { labels, datasets: datasets.map((d, i) => ({ borderColor: palette[i], backgroundColor: palette[i], ...d })) },
        options: { animation: false, responsive: true, plugins: { legend: { position: "bottom" } }, ...options },
      }),
    );
  }
  const percent = { scales: { y: { min: 0, max: 1, ticks: { format: { style: "percent" } } } } };

  chart("chart-volume", "bar", [
    { label: "conversations", data: days.map((d) => d.conversations) },
    { label: "answers", data: days.map((d) => d.answers) },
  ]);
  const models = [...new Set(days.flatMap((d) => Object.keys(d.cost_by_model)))];
  chart(
    "chart-cost",
    "bar",
    models.map((m) => ({ label: m, data: days.map((d) => Number(d.cost_by_model[m] || 0)) })),
    { scales: { x: { stacked: true }, y: { stacked: true } } },
  );
  chart("chart-ttft", "line", [
    { label: "p50", data: days.map((d) => d.ttft_p50_ms) },
    { label: "p95", data: days.map((d) => d.ttft_p95_ms) },
  ]);
  chart("chart-cache", "line", [{ label: "hit rate", data: days.map((d) => d.cache_hit_rate) }], percent);
  chart(
    "chart-outcomes",
    "line",
    [
      { label: "resolved", data: days.map((d) => d.resolution_rate) },
      { label: "escalated", data: days.map((d) => d.escalation_rate) },
    ],
    percent,
  );
  chart("chart-csat", "line", [{ label: "CSAT", data: days.map((d) => d.csat_mean) }], {
    scales: { y: { min: 1, max: 5 } },
  });
})();
