// Small plots without a chart library: column histograms (SVG), missingness meters and labelled horizontal bars.
import { useTranslation } from 'react-i18next';
import { useFormat } from '../i18n/format';

export function Histogram({
  counts,
  label,
  width = 120,
  height = 32,
}: {
  counts: number[];
  label: string;
  width?: number;
  height?: number;
}) {
  const max = Math.max(1, ...counts);
  const w = width / Math.max(1, counts.length);
  return (
    <svg className="spark" width={width} height={height} role="img" aria-label={label}>
      <title>{label}</title>
      {counts.map((c, i) => {
        const h = c === 0 ? 0 : Math.max(1, (c / max) * (height - 2));
        return <rect key={i} x={i * w + 0.5} y={height - h} width={Math.max(1, w - 1)} height={h} />;
      })}
    </svg>
  );
}

export function MissingBar({ missing, total }: { missing: number; total: number }) {
  const { t } = useTranslation();
  const f = useFormat();
  const share = total > 0 ? missing / total : 0;
  const text = t('datasets.missingBar', { percent: f.pct(share) });
  return (
    <span title={text}>
      <span className="meter" role="img" aria-label={text}>
        <span style={{ width: `${Math.min(100, share * 100)}%` }} />
      </span>
      <span className="num">{f.pct(share)}</span>
    </span>
  );
}

export interface Bar {
  label: string;
  value: number;
  text?: string;
}

/** Labelled horizontal bars, longest first; values must be ≥ 0. */
export function Bars({ bars, label }: { bars: Bar[]; label: string }) {
  const max = Math.max(1e-12, ...bars.map((b) => b.value));
  return (
    <div className="bars" role="list" aria-label={label}>
      {bars.map((b) => (
        <div key={b.label} role="listitem" style={{ display: 'contents' }}>
          <span>{b.label}</span>
          <span className="bar" style={{ width: `${(b.value / max) * 100}%` }} aria-hidden="true" />
          <span className="num">{b.text ?? b.value}</span>
        </div>
      ))}
    </div>
  );
}
