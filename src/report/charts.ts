/**
 * Charts for benchmark reports and the model card: Vega-Lite specs rendered headless to SVG with
 * vega, and to PNG with resvg (no browser, no canvas). Every chart is written as NAME.svg and NAME.png.
 */
import { writeFileSync } from 'node:fs';
import { WavefilterError } from '../errors.js';

/** A Vega-Lite specification (kept structural: the renderer validates it). */
export type ChartSpec = Readonly<Record<string, unknown>>;

const BASE = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white', config: { font: 'DejaVu Sans', view: { stroke: null } } };

/** Renders a Vega-Lite spec to SVG text and PNG bytes (2x scale). */
export async function renderChart(spec: ChartSpec): Promise<{ svg: string; png: Uint8Array }> {
  const [vega, vl, resvg] = await Promise.all([import('vega'), import('vega-lite'), import('@resvg/resvg-js')]);
  let svg: string;
  try {
    const compiled = vl.compile({ ...BASE, ...spec } as Parameters<typeof vl.compile>[0]).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
    svg = await view.toSVG();
    view.finalize();
  } catch (e) {
    throw new WavefilterError('invalid_input', `chart could not be rendered: ${(e as Error).message}`);
  }
  const png = new resvg.Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
  return { svg, png };
}

/** Writes BASE.svg and BASE.png; returns the two paths. */
export async function writeChart(base: string, spec: ChartSpec): Promise<string[]> {
  const { svg, png } = await renderChart(spec);
  writeFileSync(`${base}.svg`, svg);
  writeFileSync(`${base}.png`, png);
  return [`${base}.svg`, `${base}.png`];
}

export interface Point {
  readonly [key: string]: string | number | null;
}

/** Lines with points: one series per `series` value. */
export function lineChart(o: { title: string; data: readonly Point[]; x: string; y: string; series: string; xTitle?: string; yTitle?: string; xLog?: boolean; yLog?: boolean; yDomain?: [number, number]; width?: number; height?: number }): ChartSpec {
  return {
    title: o.title,
    width: o.width ?? 520,
    height: o.height ?? 300,
    data: { values: o.data },
    // equal results draw on top of each other: dashes and point shapes keep every series visible
    mark: { type: 'line', point: { size: 60, filled: false }, strokeWidth: 2 },
    encoding: {
      x: { field: o.x, type: 'quantitative', title: o.xTitle ?? o.x, scale: o.xLog ? { type: 'log' } : { zero: false } },
      y: { field: o.y, type: 'quantitative', title: o.yTitle ?? o.y, scale: { ...(o.yLog ? { type: 'log' } : {}), ...(o.yDomain ? { domain: o.yDomain } : {}) } },
      color: { field: o.series, type: 'nominal', title: o.series, legend: { labelLimit: 400 } },
      strokeDash: { field: o.series, type: 'nominal', title: o.series, legend: { labelLimit: 400 } },
      shape: { field: o.series, type: 'nominal', title: o.series, legend: { labelLimit: 400 } },
    },
  };
}

/** A heatmap of `value` (0-100) over two ordinal axes, with the values printed in the cells. */
export function heatmap(o: { title: string; data: readonly Point[]; x: string; y: string; value: string; xTitle?: string; yTitle?: string; facet?: string }): ChartSpec {
  const inner = {
    width: 40 * new Set(o.data.map((d) => d[o.x])).size,
    height: 24 * new Set(o.data.map((d) => d[o.y])).size,
    encoding: {
      x: { field: o.x, type: 'ordinal', title: o.xTitle ?? o.x, sort: null },
      y: { field: o.y, type: 'ordinal', title: o.yTitle ?? o.y, sort: null },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: o.value, type: 'quantitative', scale: { domain: [0, 100], scheme: 'redyellowgreen' }, title: o.value } } },
      { mark: { type: 'text', fontSize: 9 }, encoding: { text: { field: o.value, type: 'quantitative', format: '.0f' } } },
    ],
  };
  if (!o.facet) return { title: o.title, data: { values: o.data }, ...inner };
  return { title: o.title, data: { values: o.data }, facet: { field: o.facet, type: 'nominal', title: null }, columns: 3, spec: inner };
}
