// A line chart over time (uPlot), drawn into a div the component owns; uPlot sets only element
// styles and canvas pixels, which the Content-Security-Policy allows.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  readonly label: string;
  readonly color: string;
  readonly values: readonly number[];
}

export function TimeChart({ times, series, height = 220 }: { times: readonly number[]; series: readonly Series[]; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (element === null || times.length === 0) return undefined;
    const options: uPlot.Options = {
      width: Math.max(320, element.clientWidth),
      height,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2 }))],
      axes: [{}, { size: 60 }],
      legend: { show: true },
    };
    const data = [Array.from(times), ...series.map((s) => Array.from(s.values))] as uPlot.AlignedData;
    const plot = new uPlot(options, data, element);
    const resized = () => plot.setSize({ width: Math.max(320, element.clientWidth), height });
    addEventListener('resize', resized);
    return () => {
      removeEventListener('resize', resized);
      plot.destroy();
    };
  }, [times, series, height]);
  return <div ref={box} class="chart" data-testid="chart" />;
}
