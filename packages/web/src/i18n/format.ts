// Dates and numbers in the user's language through Intl (no hand-made formats).
import { useTranslation } from 'react-i18next';

export function locale(lang: string): string {
  return lang === 'ja' ? 'ja-JP' : 'en-GB';
}

export function formatDate(iso: string | null | undefined, lang: string): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale(lang), { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

export function formatNumber(x: number | null | undefined, lang: string, digits?: number): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  const opts: Intl.NumberFormatOptions =
    digits === undefined
      ? { maximumFractionDigits: 3 }
      : { minimumFractionDigits: digits, maximumFractionDigits: digits };
  return new Intl.NumberFormat(locale(lang), opts).format(x);
}

export function formatPercent(x: number | null | undefined, lang: string, digits = 1): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  return new Intl.NumberFormat(locale(lang), {
    style: 'percent',
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(x);
}

export function formatBytes(n: number, lang: string): string {
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const;
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return new Intl.NumberFormat(locale(lang), {
    style: 'unit',
    unit: units[i],
    unitDisplay: 'short',
    maximumFractionDigits: i === 0 ? 0 : 1,
  }).format(v);
}

export function formatDuration(ms: number, lang: string): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const nf = new Intl.NumberFormat(locale(lang), { minimumIntegerDigits: 2 });
  return h > 0 ? `${h}:${nf.format(m)}:${nf.format(sec)}` : `${m}:${nf.format(sec)}`;
}

/** The formatters bound to the current language. */
export function useFormat() {
  const { i18n } = useTranslation();
  const lang = i18n.language;
  return {
    lang,
    date: (iso: string | null | undefined) => formatDate(iso, lang),
    num: (x: number | null | undefined, digits?: number) => formatNumber(x, lang, digits),
    pct: (x: number | null | undefined, digits?: number) => formatPercent(x, lang, digits),
    bytes: (n: number) => formatBytes(n, lang),
    duration: (ms: number) => formatDuration(ms, lang),
  };
}
