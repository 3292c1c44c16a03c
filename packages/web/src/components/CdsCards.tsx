// CDS Hooks cards rendered as an EHR shows them: indicator colour and label, summary, detail (Markdown, as the CDS
// Hooks specification says, through the safe subset renderer), source, suggestions and links.
import { useTranslation } from 'react-i18next';
import type { CdsCard } from '../api/types';
import { Markdown } from './Markdown';

const SAFE_URL = /^https?:/i;

export function CdsCards({ cards }: { cards: CdsCard[] }) {
  const { t } = useTranslation();
  if (cards.length === 0) return <p className="muted">{t('deployments.noCards')}</p>;
  return (
    <div data-testid="cds-cards">
      {cards.map((c, i) => {
        const ind = ['info', 'warning', 'critical'].includes(c.indicator) ? c.indicator : 'info';
        return (
          <article key={c.uuid ?? i} className={`cds-card ${ind}`} aria-label={c.summary}>
            <div className="indicator">{t(`deployments.indicator.${ind}`)}</div>
            <p className="summary">{c.summary}</p>
            {c.detail && <Markdown source={c.detail} className="detail" />}
            {c.suggestions && c.suggestions.length > 0 && (
              <>
                <strong>{t('deployments.suggestions')}</strong>
                <ul>
                  {c.suggestions.map((s, j) => (
                    <li key={s.uuid ?? j}>
                      {s.label}
                      {s.isRecommended && <span className="badge badge-approved"> {t('deployments.recommended')}</span>}
                      {(s.actions ?? [])
                        .filter((a) => a.description)
                        .map((a, k) => (
                          <div key={k} className="muted">
                            {a.description}
                          </div>
                        ))}
                    </li>
                  ))}
                </ul>
              </>
            )}
            {c.links && c.links.length > 0 && (
              <ul>
                {c.links.map((l, j) => (
                  <li key={j}>
                    {SAFE_URL.test(l.url) ? (
                      <a href={l.url} target="_blank" rel="noopener noreferrer">
                        {l.label}
                      </a>
                    ) : (
                      l.label
                    )}
                  </li>
                ))}
              </ul>
            )}
            <div className="source">
              {t('deployments.source', { label: c.source?.label ?? '' })}
              {c.source?.topic?.display ? ` · ${c.source.topic.display}` : ''}
            </div>
          </article>
        );
      })}
    </div>
  );
}
