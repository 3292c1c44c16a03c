// Sign-in with the platform's accounts. A one-time password (new users) must be replaced on first sign-in: the
// server answers PASSWORD_CHANGE_REQUIRED and the form then asks for a new password.
import { useState, type FormEvent } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../api/client';
import { useSession } from '../session';

export function LoginPage() {
  const { t } = useTranslation();
  const { session, login, expired } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from ?? '/';
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [change, setChange] = useState(false);
  const [newPassword, setNewPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  if (session) return <Navigate to={from} replace />;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    if (change && newPassword !== confirm) {
      setError(t('login.mismatch'));
      return;
    }
    setBusy(true);
    try {
      await login(user.trim(), password, change ? newPassword : undefined);
      navigate(from, { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'PASSWORD_CHANGE_REQUIRED') {
        setChange(true);
        setError(null);
      } else {
        setError(err instanceof ApiError ? err.message : String(err));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="login">
      <form className="card" onSubmit={(e) => void submit(e)} aria-labelledby="login-title">
        <h1 id="login-title">{t('login.title')}</h1>
        <p className="muted">{t('app.tagline')}</p>
        {expired && (
          <p className="notice" role="status">
            {t('login.expired')}
          </p>
        )}
        <label>
          {t('login.user')}
          <input
            name="user"
            autoComplete="username"
            required
            value={user}
            onChange={(e) => setUser(e.target.value)}
            autoFocus
          />
        </label>
        <label>
          {t('login.password')}
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {change && (
          <>
            <p className="notice" role="status">
              {t('login.changeRequired')}
            </p>
            <label>
              {t('login.newPassword')}
              <input
                name="newPassword"
                type="password"
                autoComplete="new-password"
                required
                minLength={8}
                value={newPassword}
                onChange={(e) => setNewPassword(e.target.value)}
              />
            </label>
            <label>
              {t('login.confirmPassword')}
              <input
                name="confirmPassword"
                type="password"
                autoComplete="new-password"
                required
                value={confirm}
                onChange={(e) => setConfirm(e.target.value)}
              />
            </label>
          </>
        )}
        {error && (
          <p className="error" role="alert">
            {t('login.failed', { message: error })}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? t('login.busy') : t('login.submit')}
        </button>
      </form>
    </div>
  );
}
