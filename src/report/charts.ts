/**
 * Charts for benchmark reports and the model card: Vega-Lite specs rendered headless to SVG with
 * vega, and to PNG with resvg (no browser, no canvas). Every chart is written as NAME.svg and NAME.png.
 */
import { writeFileSync } from 'node:fs';
import { WavefilterError } from '../errors.js';
import { importOptional } from '../optional.js';

/** A Vega-Lite specification (kept structural: the renderer validates it). */
export type ChartSpec = Readonly<Record<string, unknown>>;

const BASE = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white', config: { font: 'DejaVu Sans', view: { stroke: null } } };

// the optional renderers, each loaded where it is used and probed by missingChartRenderer
const loadVega = () => importOptional(() => import('vega'), 'vega', 'charts');
const loadVegaLite = () => importOptional(() => import('vega-lite'), 'vega-lite', 'charts');
const loadResvg = () => importOptional(() => import('@resvg/resvg-js'), '@resvg/resvg-js', 'PNG charts');

/** Renders a Vega-Lite spec to SVG text (vega, headless). */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  const [vega, vl] = await Promise.all([loadVega(), loadVegaLite()]);
  try {
    const compiled = vl.compile({ ...BASE, ...spec } as Parameters<typeof vl.compile>[0]).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
    const svg = await view.toSVG();
    view.finalize();
    return svg;
  } catch (e) {
    throw new WavefilterError('invalid_input', `chart could not be rendered: ${(e as Error).message}`);
  }
}

/** SVG text to PNG bytes at 2x scale (resvg: a native package, so the one most often missing). */
export async function renderPng(svg: string): Promise<Uint8Array> {
  const resvg = await loadResvg();
  return new resvg.Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
}

/** Renders a Vega-Lite spec to SVG text and PNG bytes (2x scale). */
export async function renderChart(spec: ChartSpec): Promise<{ svg: string; png: Uint8Array }> {
  const svg = await renderSvg(spec);
  return { svg, png: await renderPng(svg) };
}

/** Chart output: `png: false` writes the SVG alone (where the native PNG renderer is not installed). */
export interface ChartOutput {
  readonly png?: boolean;
}

/** Writes BASE.svg and (unless `png` is false) BASE.png; returns the paths written. */
export async function writeChart(base: string, spec: ChartSpec, out: ChartOutput = {}): Promise<string[]> {
  const svg = await renderSvg(spec);
  writeFileSync(`${base}.svg`, svg);
  if (out.png === false) return [`${base}.svg`];
  writeFileSync(`${base}.png`, await renderPng(svg));
  return [`${base}.svg`, `${base}.png`];
}

/** The missing_dependency error of whatever chart renderer is not installed, or null when all are. */
export async function missingChartRenderer(): Promise<{ svg: WavefilterError | null; png: WavefilterError | null }> {
  const probe = async (load: () => Promise<unknown>): Promise<WavefilterError | null> => {
    try {
      await load();
      return null;
    } catch (e) {
      if (e instanceof WavefilterError && e.code === 'missing_dependency') return e;
      throw e;
    }
  };
  return { svg: (await probe(loadVega)) ?? (await probe(loadVegaLite)), png: await probe(loadResvg) };
}

export interface Point {
  readonly [key: string]: string | number | null;
}

/** A horizontal reference line with its label (e.g. the host, which has no budget). */
export interface ReferenceLine {
  readonly label: string;
  readonly value: number;
}

/** Colours for n series: Tableau's 10, or its 20 when there are more (no two series share a colour). */
function colourScheme(n: number): string {
  return n > 10 ? 'tableau20' : 'tableau10';
}

/**
 * Lines with points: one series per `series` value. `xValues` puts ticks only at the values
 * compared (formatted with `xFormat`, e.g. '~%'), instead of a generated axis ("0.160000");
 * `references` are drawn as labelled horizontal rules, not as series.
 */
export function lineChart(o: {
  title: string; subtitle?: string; data: readonly Point[]; x: string; y: string; series: string; xTitle?: string; yTitle?: string; xLog?: boolean; yLog?: boolean;
  yDomain?: [number, number]; width?: number; height?: number; xValues?: readonly number[]; xFormat?: string; references?: readonly ReferenceLine[];
}): ChartSpec {
  const n = new Set(o.data.map((d) => d[o.series])).size;
  const legend = { labelLimit: 400, title: o.series };
  const xAxis = { ...(o.xValues ? { values: [...o.xValues] } : {}), ...(o.xFormat ? { format: o.xFormat } : {}), labelFlush: false };
  const lines = {
    data: { values: o.data },
    // equal results draw on top of each other: dashes and point shapes keep every series visible
    mark: { type: 'line', point: { size: 60, filled: false }, strokeWidth: 2 },
    encoding: {
      x: { field: o.x, type: 'quantitative', title: o.xTitle ?? o.x, axis: xAxis, scale: o.xLog ? { type: 'log' } : { zero: false, ...(o.xValues && o.xValues.length > 1 ? { domain: [Math.min(...o.xValues), Math.max(...o.xValues)], nice: false, padding: 20 } : {}) } },
      y: { field: o.y, type: 'quantitative', title: o.yTitle ?? o.y, scale: { ...(o.yLog ? { type: 'log' } : {}), ...(o.yDomain ? { domain: o.yDomain } : {}) } },
      color: { field: o.series, type: 'nominal', legend, scale: { scheme: colourScheme(n) } },
      strokeDash: { field: o.series, type: 'nominal', legend },
      shape: { field: o.series, type: 'nominal', legend },
    },
  };
  const refs = o.references ?? [];
  const layers: unknown[] = [lines];
  if (refs.length) {
    const values = refs.map((r) => ({ label: `${r.label}: ${r.value}`, value: r.value }));
    layers.push(
      { data: { values }, mark: { type: 'rule', color: '#555', strokeDash: [6, 3], strokeWidth: 1.5 }, encoding: { y: { field: 'value', type: 'quantitative' } } },
      { data: { values }, mark: { type: 'text', align: 'left', dx: 4, dy: -7, color: '#333', fontSize: 11 }, encoding: { y: { field: 'value', type: 'quantitative' }, x: { value: 0 }, text: { field: 'label' } } },
    );
  }
  return {
    title: o.subtitle ? { text: o.title, subtitle: o.subtitle } : o.title,
    width: o.width ?? 520,
    height: o.height ?? 300,
    layer: layers,
  };
}

/** One paired difference with its 95% interval (a row of an interval chart). */
export interface IntervalRow {
  readonly label: string;
  readonly group: string;
  readonly mean: number;
  readonly lo: number;
  readonly hi: number;
}

/**
 * Differences with their intervals, one row each (a forest plot): a bar from lo to hi and a point at
 * the mean, coloured by group, and dashed vertical rules at the `rules` values (0, a bar to meet).
 */
export function intervalChart(o: { title: string; subtitle?: string; rows: readonly IntervalRow[]; xTitle: string; rules?: readonly { value: number; label: string }[]; width?: number }): ChartSpec {
  const y = { field: 'label', type: 'nominal', sort: null, title: null, axis: { labelLimit: 600 } };
  const groups = new Set(o.rows.map((r) => r.group)).size;
  const color = { field: 'group', type: 'nominal', title: null, legend: { orient: 'bottom', direction: 'vertical', labelLimit: 600 }, scale: { scheme: colourScheme(groups) } };
  const rules = o.rules ?? [{ value: 0, label: '0' }];
  return {
    title: o.subtitle ? { text: o.title, subtitle: o.subtitle } : o.title,
    width: o.width ?? 420,
    height: { step: 24 },
    layer: [
      { data: { values: rules }, mark: { type: 'rule', color: '#555', strokeDash: [5, 3] }, encoding: { x: { field: 'value', type: 'quantitative' } } },
      { data: { values: rules }, mark: { type: 'text', color: '#333', fontSize: 10, baseline: 'bottom', dy: -2, align: 'left', dx: 3 }, encoding: { x: { field: 'value', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } } },
      { data: { values: o.rows }, mark: { type: 'rule', strokeWidth: 2.5 }, encoding: { y, x: { field: 'lo', type: 'quantitative', title: o.xTitle }, x2: { field: 'hi' }, color } },
      { data: { values: o.rows }, mark: { type: 'point', filled: true, size: 70 }, encoding: { y, x: { field: 'mean', type: 'quantitative' }, color } },
    ],
  };
}

/**
 * A heatmap of `value` (0-100) over two ordinal axes, with the values printed in the cells (white on
 * the dark ends of the scale). Faceted, the axis titles go into the subtitle once instead of
 * repeating (and overlapping) beside every panel.
 */
export function heatmap(o: { title: string; data: readonly Point[]; x: string; y: string; value: string; xTitle?: string; yTitle?: string; facet?: string }): ChartSpec {
  const xTitle = o.xTitle ?? o.x;
  const yTitle = o.yTitle ?? o.y;
  const inner = {
    width: 40 * new Set(o.data.map((d) => d[o.x])).size,
    height: 24 * new Set(o.data.map((d) => d[o.y])).size,
    encoding: {
      x: { field: o.x, type: 'ordinal', title: o.facet ? null : xTitle, sort: null, axis: { labelAngle: 0 } },
      y: { field: o.y, type: 'ordinal', title: o.facet ? null : yTitle, sort: null },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: o.value, type: 'quantitative', scale: { domain: [0, 100], scheme: 'redyellowgreen' }, title: o.value } } },
      {
        mark: { type: 'text', fontSize: 9 },
        encoding: {
          text: { field: o.value, type: 'quantitative', format: '.0f' },
          color: { condition: { test: `datum['${o.value}'] < 25 || datum['${o.value}'] > 75`, value: 'white' }, value: 'black' },
        },
      },
    ],
  };
  if (!o.facet) return { title: o.title, data: { values: o.data }, ...inner };
  return {
    title: { text: o.title, subtitle: `columns: ${xTitle}; rows: ${yTitle}` },
    data: { values: o.data }, facet: { field: o.facet, type: 'nominal', title: null }, columns: 3, spec: inner,
  };
}
