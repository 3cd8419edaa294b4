// The tenant console: charts of the statistics embedded in the page, per day (#stats) or per
// hour (#stats-hours), switched by the period buttons.
(() => {
  const periods = {
    days: {
      rows: JSON.parse(document.getElementById("stats").textContent),
      label: (d) => d.day.slice(5),
      text: "One point per day",
    },
    hours: {
      rows: JSON.parse(document.getElementById("stats-hours").textContent),
      label: (d) => `${d.hour.slice(5, 10)} ${d.hour.slice(11, 13)}h`,
      text: "One point per hour",
      hourly: true,
    },
  };
  const palette = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2"];
  const charts = (window.consoleCharts = []);
  // Axis text and grid lines in the page's colours (light or dark), again when the theme changes.
  function themeColours() {
    const style = getComputedStyle(document.documentElement);
    Chart.defaults.color = style.getPropertyValue("--muted").trim();
    Chart.defaults.borderColor = style.getPropertyValue("--line").trim();
  }
  themeColours();

  const percent = { scales: { y: { min: 0, max: 1, ticks: { format: { style: "percent" } } } } };

  function draw(period) {
    const { rows, label } = period;
    const labels = rows.map(label);
    charts.splice(0).forEach((c) => c.destroy());
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
    // A target (grey) or an alert threshold (red) as a dashed line across the chart.
    const line = (label, value, alert) => ({
      label, data: rows.map(() => value), borderDash: [6, 4], pointRadius: 0, borderWidth: 1,
      borderColor: alert ? "#dc2626" : "#6b7280", backgroundColor: "transparent",
    });

    chart("chart-volume", "bar", [
      { label: "conversations", data: rows.map((d) => d.conversations) },
      { label: "answers", data: rows.map((d) => d.answers) },
    ]);
    const models = [...new Set(rows.flatMap((d) => Object.keys(d.cost_by_model)))];
    chart(
      "chart-cost",
      "bar",
      models.map((m) => ({ label: m, data: rows.map((d) => Number(d.cost_by_model[m] || 0)) })),
      { scales: { x: { stacked: true }, y: { stacked: true } } },
    );
    chart("chart-ttft", "line", [
      { label: "p50", data: rows.map((d) => d.ttft_p50_ms) },
      { label: "p95", data: rows.map((d) => d.ttft_p95_ms) },
    ]);
    chart("chart-cache", "line", [{ label: "hit rate", data: rows.map((d) => d.cache_hit_rate) }], percent);
    chart(
      "chart-outcomes",
      "line",
      [
        { label: "resolved", data: rows.map((d) => d.resolution_rate) },
        { label: "escalated", data: rows.map((d) => d.escalation_rate) },
        line("resolution target 75 %", 0.75),
        line("resolution alert 50 %", 0.5, true),
        line("escalation alert 30 %", 0.3, true),
      ],
      percent,
    );
    chart("chart-csat", "line", [
      { label: "CSAT", data: rows.map((d) => d.csat_mean) }, line("target 4.0", 4), line("alert 3.0", 3, true),
    ], { scales: { y: { min: 1, max: 5 } } });
    chart("chart-latency", "line", [
      { label: "p50", data: rows.map((d) => d.latency_p50_ms) },
      { label: "p99", data: rows.map((d) => d.latency_p99_ms) },
      line("p50 target 2 s", 2000), line("p99 target 8 s", 8000),
      line("p50 alert 5 s", 5000, true), line("p99 alert 15 s", 15000, true),
    ]);
    chart("chart-errors", "line", [
      { label: "error rate", data: rows.map((d) => d.error_rate) }, line("target 1 %", 0.01), line("alert 5 %", 0.05, true),
    ], { scales: { y: { min: 0, ticks: { format: { style: "percent" } } } } });
    chart("chart-users", "line", [
      { label: period.hourly ? "in the hour" : "daily", data: rows.map((d) => d.active_users) },
      ...(period.hourly ? [] : [{ label: "weekly", data: rows.map((d) => d.weekly_active_users) }]),
    ]);
    chart("chart-safety", "bar", [
      { label: "blocked topics", data: rows.map((d) => d.blocked_topics) },
      { label: "PII redactions", data: rows.map((d) => d.pii_redactions) },
    ]);
    chart("chart-cost-conversation", "line", [
      { label: "USD", data: rows.map((d) => (d.cost_per_conversation_usd === null ? null : Number(d.cost_per_conversation_usd))) },
      line("target $0.10", 0.1), line("alert $0.50", 0.5, true),
    ]);
    // Who answered (issue 33): how often a person is asked for, how fast one replies, and how
    // conversations end with the assistant alone or with a person.
    const handoff = (d, key) => (d.handoff ? d.handoff[key] ?? null : null);
    chart("chart-handoff", "line", [
      { label: "handoff rate", data: rows.map((d) => handoff(d, "handoff_rate")) },
      { label: "resolved, assistant alone", data: rows.map((d) => handoff(d, "resolution_rate_bot")) },
      { label: "resolved, with a person", data: rows.map((d) => handoff(d, "resolution_rate_human")) },
    ], percent);
    chart("chart-first-reply", "line", [
      { label: "p50", data: rows.map((d) => handoff(d, "first_reply_p50_s")) },
      { label: "p90", data: rows.map((d) => handoff(d, "first_reply_p90_s")) },
      line("alert p90 15 min", 900, true),
    ]);
    chart("chart-csat-who", "line", [
      { label: "assistant alone", data: rows.map((d) => handoff(d, "csat_bot")) },
      { label: "with a person", data: rows.map((d) => handoff(d, "csat_human")) },
    ], { scales: { y: { min: 1, max: 5 } } });
  }

  const buttons = document.querySelectorAll("[data-period]");
  function show(name) {
    draw(periods[name]);
    document.getElementById("period-text").textContent = periods[name].text;
    buttons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.period === name)));
  }
  buttons.forEach((b) => b.addEventListener("click", () => show(b.dataset.period)));
  show("days");
  new MutationObserver(() => {
    themeColours();
    show(document.querySelector("[data-period][aria-pressed=true]").dataset.period);
  }).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
})();
