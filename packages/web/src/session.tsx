// The browser session: restored from the HttpOnly cookie at start (GET /auth/session), created by the login form,
// ended by logout. Keeps the CSRF token the server issued for the API client's unsafe requests.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, ApiError, ok, setCsrfToken } from './api/client';
import type { Session } from './api/types';

interface SessionState {
  session: Session | null;
  /** True until the first session check has answered. */
  checking: boolean;
  /** Set when an API call answered 401 after we had a session. */
  expired: boolean;
  /** `newPassword` replaces a one-time password (the server answers PASSWORD_CHANGE_REQUIRED without it). */
  login(user: string, password: string, newPassword?: string): Promise<Session>;
  logout(): Promise<void>;
  /** Called by pages when the server says the session is gone. */
  lost(): void;
}

const Ctx = createContext<SessionState | null>(null);

export function SessionProvider({ children, initial }: { children: ReactNode; initial?: Session | null }) {
  const [session, setSession] = useState<Session | null>(initial ?? null);
  const [checking, setChecking] = useState(initial === undefined);
  const [expired, setExpired] = useState(false);

  const adopt = useCallback((s: Session | null) => {
    setCsrfToken(s?.csrfToken ?? null);
    setSession(s);
  }, []);

  useEffect(() => {
    if (initial !== undefined) {
      setCsrfToken(initial?.csrfToken ?? null);
      return;
    }
    let stop = false;
    ok(api.GET('/api/v1/auth/session'))
      .then((s) => !stop && adopt(s))
      .catch(() => !stop && adopt(null))
      .finally(() => !stop && setChecking(false));
    return () => {
      stop = true;
    };
  }, [adopt, initial]);

  const login = useCallback(
    async (user: string, password: string, newPassword?: string) => {
      const s = await ok(
        api.POST('/api/v1/auth/session', { body: { user, password, ...(newPassword ? { newPassword } : {}) } }),
      );
      setExpired(false);
      adopt(s);
      return s;
    },
    [adopt],
  );

  const logout = useCallback(async () => {
    try {
      await ok(api.DELETE('/api/v1/auth/session'));
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) throw e;
    } finally {
      adopt(null);
    }
  }, [adopt]);

  const lost = useCallback(() => {
    setExpired(true);
    adopt(null);
  }, [adopt]);

  const value = useMemo(
    () => ({ session, checking, expired, login, logout, lost }),
    [session, checking, expired, login, logout, lost],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useSession(): SessionState {
  const s = useContext(Ctx);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}
