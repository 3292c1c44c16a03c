// Plots drawn with recharts: ROC, precision–recall, calibration and optimisation history. (Small plain-SVG/CSS
// plots live in ./bars.tsx, so pages without these charts do not load recharts.)
import {
  CartesianGrid,
  ComposedChart,
  Legend,
  Line,
  LineChart,
  ReferenceLine,
  Scatter,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { useTranslation } from 'react-i18next';
import { useFormat } from '../i18n/format';

const AXIS = { fontSize: 11 };

function ticks01() {
  return [0, 0.25, 0.5, 0.75, 1];
}

/** An x/y curve on the unit square (ROC, precision–recall) with an optional reference line. */
export function CurveChart({
  title,
  x,
  y,
  xLabel,
  yLabel,
  diagonal,
  baseline,
  width = 360,
  height = 300,
}: {
  title: string;
  x: number[];
  y: number[];
  xLabel: string;
  yLabel: string;
  diagonal?: string;
  baseline?: { y: number; label: string };
  width?: number;
  height?: number;
}) {
  const f = useFormat();
  const data = x.map((xv, i) => ({ x: xv, y: y[i] ?? null }));
  return (
    <figure className="chart" aria-label={title}>
      <h3>{title}</h3>
      <LineChart width={width} height={height} data={data} margin={{ top: 8, right: 16, bottom: 28, left: 8 }}>
        <CartesianGrid stroke="#e3e7ec" />
        <XAxis
          type="number"
          dataKey="x"
          domain={[0, 1]}
          ticks={ticks01()}
          tick={AXIS}
          label={{ value: xLabel, position: 'insideBottom', offset: -16, fontSize: 12 }}
        />
        <YAxis
          type="number"
          domain={[0, 1]}
          ticks={ticks01()}
          tick={AXIS}
          label={{ value: yLabel, angle: -90, position: 'insideLeft', offset: 14, fontSize: 12 }}
        />
        <Tooltip formatter={(v) => f.num(Number(v), 3)} labelFormatter={(v) => `${xLabel}: ${f.num(Number(v), 3)}`} />
        {diagonal && (
          <ReferenceLine
            segment={[
              { x: 0, y: 0 },
              { x: 1, y: 1 },
            ]}
            stroke="#8793a3"
            strokeDasharray="4 4"
            label={{ value: diagonal, position: 'insideBottomRight', fontSize: 11, fill: '#4f5b6a' }}
          />
        )}
        {baseline && (
          <ReferenceLine
            y={baseline.y}
            stroke="#8793a3"
            strokeDasharray="4 4"
            label={{ value: baseline.label, position: 'insideTopRight', fontSize: 11, fill: '#4f5b6a' }}
          />
        )}
        <Line
          type="linear"
          dataKey="y"
          name={yLabel}
          stroke="#0b5cad"
          strokeWidth={2}
          dot={false}
          isAnimationActive={false}
        />
      </LineChart>
    </figure>
  );
}

/** Calibration: observed fraction positive against mean predicted probability per bin, with the diagonal. */
export function CalibrationChart({
  predicted,
  observed,
  counts,
  width = 360,
  height = 300,
}: {
  predicted: number[];
  observed: number[];
  counts: number[];
  width?: number;
  height?: number;
}) {
  const { t } = useTranslation();
  const f = useFormat();
  const data = predicted.map((p, i) => ({ x: p, y: observed[i] ?? null, n: counts[i] ?? 0 }));
  return (
    <figure className="chart" aria-label={t('models.calibration')}>
      <h3>{t('models.calibration')}</h3>
      <LineChart width={width} height={height} data={data} margin={{ top: 8, right: 16, bottom: 28, left: 8 }}>
        <CartesianGrid stroke="#e3e7ec" />
        <XAxis
          type="number"
          dataKey="x"
          domain={[0, 1]}
          ticks={ticks01()}
          tick={AXIS}
          label={{ value: t('models.predicted'), position: 'insideBottom', offset: -16, fontSize: 12 }}
        />
        <YAxis
          type="number"
          domain={[0, 1]}
          ticks={ticks01()}
          tick={AXIS}
          label={{ value: t('models.observed'), angle: -90, position: 'insideLeft', offset: 14, fontSize: 12 }}
        />
        <Tooltip formatter={(v) => f.num(Number(v), 3)} />
        <ReferenceLine
          segment={[
            { x: 0, y: 0 },
            { x: 1, y: 1 },
          ]}
          stroke="#8793a3"
          strokeDasharray="4 4"
          label={{ value: t('models.perfect'), position: 'insideBottomRight', fontSize: 11, fill: '#4f5b6a' }}
        />
        <Line
          type="linear"
          dataKey="y"
          name={t('models.observed')}
          stroke="#0b5cad"
          strokeWidth={2}
          dot={{ r: 4 }}
          isAnimationActive={false}
        />
      </LineChart>
    </figure>
  );
}

/** Optimisation history: each finished trial's value, and the best value so far. */
export function HistoryChart({
  trials,
  maximize = true,
  width = 540,
  height = 280,
}: {
  trials: { number: number; value: number | null }[];
  maximize?: boolean;
  width?: number;
  height?: number;
}) {
  const { t } = useTranslation();
  const f = useFormat();
  const sorted = [...trials].filter((x) => x.value !== null).sort((a, b) => a.number - b.number);
  let best: number | null = null;
  const data = sorted.map((tr) => {
    const v = tr.value!;
    best = best === null ? v : maximize ? Math.max(best, v) : Math.min(best, v);
    return { n: tr.number, value: v, best };
  });
  const values = data.map((d) => d.value);
  const lo = values.length ? Math.min(...values) : 0;
  const hi = values.length ? Math.max(...values) : 1;
  const pad = Math.max(0.005, (hi - lo) * 0.1);
  return (
    <figure className="chart" aria-label={t('studies.history')}>
      <h3>{t('studies.history')}</h3>
      <ComposedChart width={width} height={height} data={data} margin={{ top: 8, right: 16, bottom: 28, left: 8 }}>
        <CartesianGrid stroke="#e3e7ec" />
        <XAxis
          type="number"
          dataKey="n"
          tick={AXIS}
          allowDecimals={false}
          domain={['dataMin', 'dataMax']}
          padding={{ left: 12, right: 12 }}
          label={{ value: t('studies.trialNumber'), position: 'insideBottom', offset: -16, fontSize: 12 }}
        />
        <YAxis
          type="number"
          tick={AXIS}
          domain={[Math.max(0, lo - pad), Math.min(1, hi + pad)]}
          tickFormatter={(v: number) => f.num(v, 2)}
        />
        <Tooltip formatter={(v) => f.num(Number(v), 4)} />
        <Legend verticalAlign="top" height={24} />
        <Scatter dataKey="value" name={t('studies.trialValue')} fill="#6c8fb8" isAnimationActive={false} />
        <Line
          type="stepAfter"
          dataKey="best"
          name={t('studies.bestValue')}
          stroke="#c05a00"
          strokeWidth={2}
          dot={false}
          isAnimationActive={false}
        />
      </ComposedChart>
    </figure>
  );
}
