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
  // A target (grey) or an alert threshold (red) as a dashed line across the chart.
  const line = (label, value, alert) => ({
    label, data: days.map(() => value), borderDash: [6, 4], pointRadius: 0, borderWidth: 1,
    borderColor: alert ? "#dc2626" : "#6b7280", backgroundColor: "transparent",
  });

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
      line("resolution target 75 %", 0.75),
      line("resolution alert 50 %", 0.5, true),
      line("escalation alert 30 %", 0.3, true),
    ],
    percent,
  );
  chart("chart-csat", "line", [
    { label: "CSAT", data: days.map((d) => d.csat_mean) }, line("target 4.0", 4), line("alert 3.0", 3, true),
  ], { scales: { y: { min: 1, max: 5 } } });
  chart("chart-latency", "line", [
    { label: "p50", data: days.map((d) => d.latency_p50_ms) },
    { label: "p99", data: days.map((d) => d.latency_p99_ms) },
    line("p50 target 2 s", 2000), line("p99 target 8 s", 8000),
    line("p50 alert 5 s", 5000, true), line("p99 alert 15 s", 15000, true),
  ]);
  chart("chart-errors", "line", [
    { label: "error rate", data: days.map((d) => d.error_rate) }, line("target 1 %", 0.01), line("alert 5 %", 0.05, true),
  ], { scales: { y: { min: 0, ticks: { format: { style: "percent" } } } } });
  chart("chart-users", "line", [
    { label: "daily", data: days.map((d) => d.active_users) },
    { label: "weekly", data: days.map((d) => d.weekly_active_users) },
  ]);
  chart("chart-safety", "bar", [
    { label: "blocked topics", data: days.map((d) => d.blocked_topics) },
    { label: "PII redactions", data: days.map((d) => d.pii_redactions) },
  ]);
  chart("chart-cost-conversation", "line", [
    { label: "USD", data: days.map((d) => (d.cost_per_conversation_usd === null ? null : Number(d.cost_per_conversation_usd))) },
    line("target $0.10", 0.1), line("alert $0.50", 0.5, true),
  ]);
})();
