// Small building blocks shared by the pages: data loading with errors, status badges, sections.
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../api/client';
import { useSession } from '../session';

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

function asApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, 'CLIENT_ERROR', e instanceof Error ? e.message : String(e));
}

/** Loads data when `key` changes; a 401 ends the session (the login page then asks again). */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const { lost } = useSession();
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let stop = false;
    setState((s) => ({ ...s, loading: true }));
    loadRef
      .current()
      .then((data) => !stop && setState({ data, loading: false }))
      .catch((e: unknown) => {
        if (stop) return;
        const err = asApiError(e);
        if (err.status === 401) lost();
        setState({ error: err, loading: false });
      });
    return () => {
      stop = true;
    };
  }, [key, tick, lost]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useTranslation();
  const e = asApiError(error);
  return (
    <div className="error" role="alert">
      <strong>{t('error.title')}</strong>
      <p>{t('error.withCode', { message: e.message, code: e.code })}</p>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          {t('app.retry')}
        </button>
      )}
    </div>
  );
}

export function Loading() {
  const { t } = useTranslation();
  return (
    <p className="muted" role="status">
      {t('app.loading')}
    </p>
  );
}

/** Renders `children(data)` once loaded, a spinner before, the error box on failure. */
export function Async<T>({ state, children }: { state: Loaded<T>; children: (data: T) => ReactNode }) {
  if (state.error) return <ErrorBox error={state.error} onRetry={state.reload} />;
  if (state.data === undefined) return <Loading />;
  return <>{children(state.data)}</>;
}

export function StatusBadge({ status }: { status: string }) {
  const { t, i18n } = useTranslation();
  const key = `status.${status}`;
  return <span className={`badge badge-${status}`}>{i18n.exists(key) ? t(key) : status}</span>;
}

export function Section({ title, children, id }: { title: string; children: ReactNode; id?: string }) {
  return (
    <section className="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

export function RoleName({ role }: { role: string }) {
  const { t, i18n } = useTranslation();
  return <>{i18n.exists(`roles.${role}`) ? t(`roles.${role}`) : role}</>;
}

/** Roles as a comma-separated list of their display names. */
export function RoleList({ roles }: { roles: string[] }) {
  return (
    <>
      {roles.map((r, i) => (
        <span key={r}>
          {i > 0 && ', '}
          <RoleName role={r} />
        </span>
      ))}
    </>
  );
}

/** A list page's table in a card, or its empty message when there is nothing to list. */
export function ListTable<T>({
  items,
  empty,
  head,
  row,
  testId,
}: {
  items: readonly T[];
  empty: string;
  head: ReactNode;
  row: (item: T) => ReactNode;
  testId?: string;
}) {
  if (items.length === 0) return <p className="muted">{empty}</p>;
  return (
    <div className="card table-wrap">
      <table data-testid={testId}>
        <thead>
          <tr>{head}</tr>
        </thead>
        <tbody>{items.map(row)}</tbody>
      </table>
    </div>
  );
}
