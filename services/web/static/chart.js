// Both losses on one uPlot chart, with the book's ideal loss as a dashed line.
import uPlot from "./vendor/uplot.esm.js";

export function lossChart(target) {
  const data = [[], [], [], []]; // step, D loss, G loss, ideal
  let ideal = null;
  const options = {
    width: Math.max(240, target.clientWidth || 480),
    height: 260,
    scales: { x: { time: false }, y: { range: (_, min, max) => [0, Math.max(max, (ideal ?? 0) * 1.2, 0.1)] } },
    series: [
      { label: "step" },
      { label: "D loss", stroke: "#c2410c", width: 2, points: { show: false } },
      { label: "G loss", stroke: "#1d4ed8", width: 2, points: { show: false } },
      { label: "ideal", stroke: "#333", dash: [6, 4], width: 1, points: { show: false } },
    ],
    axes: [{ label: "step" }, { label: "loss" }],
  };
  const plot = new uPlot(options, data, target);
  new ResizeObserver(() => plot.setSize({ width: Math.max(240, target.clientWidth), height: 260 })).observe(target);
  return {
    add(step, d, g) {
      if (data[0].length && step <= data[0][data[0].length - 1]) return; // replayed or resumed
      data[0].push(step); data[1].push(d); data[2].push(g); data[3].push(ideal);
      plot.setData(data);
      target.dataset.points = data[0].length; // what the chart shows, for people and tests alike
      target.dataset.lastStep = step;
    },
    setIdeal(value) {
      ideal = value;
      data[3] = data[0].map(() => ideal);
      plot.setData(data);
    },
    points: () => data[0].length,
  };
}
