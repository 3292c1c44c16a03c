// Routes and the page frame: header with navigation, language switch and sign-out; project sub-navigation.
import { lazy, Suspense } from 'react';
import { Navigate, NavLink, Outlet, Route, Routes, useLocation, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useSession } from './session';
import { LANGUAGES, setLanguage, type Language } from './i18n';
import { Loading } from './components/common';
import { LoginPage } from './pages/Login';
import { ProjectsPage, ProjectOverview } from './pages/Projects';
import { DatasetsPage, DatasetPage } from './pages/Datasets';
import { DeploymentsPage, DeploymentPage } from './pages/Deployments';
import { AuditPage } from './pages/Audit';

// The pages with plots load recharts on first use, so signing in does not wait for it.
const StudiesPage = lazy(() => import('./pages/Studies').then((m) => ({ default: m.StudiesPage })));
const StudyPage = lazy(() => import('./pages/Studies').then((m) => ({ default: m.StudyPage })));
const ModelsPage = lazy(() => import('./pages/Models').then((m) => ({ default: m.ModelsPage })));
const ModelVersionPage = lazy(() => import('./pages/Models').then((m) => ({ default: m.ModelVersionPage })));

export function LanguageSwitch() {
  const { t, i18n } = useTranslation();
  return (
    <label className="lang">
      <span>{t('app.language')}</span>
      <select
        value={i18n.language}
        onChange={(e) => void setLanguage(e.target.value as Language)}
        data-testid="language"
      >
        {LANGUAGES.map((l) => (
          <option key={l} value={l} lang={l}>
            {l === 'en' ? 'English' : '日本語'}
          </option>
        ))}
      </select>
    </label>
  );
}

function Header() {
  const { t } = useTranslation();
  const { session, logout } = useSession();
  return (
    <header className="top">
      <a className="skip" href="#main">
        {t('app.skip')}
      </a>
      <NavLink to="/" className="brand">
        {t('app.name')}
      </NavLink>
      {session && (
        <nav aria-label={t('nav.main')} className="topnav">
          <NavLink to="/" end>
            {t('nav.projects')}
          </NavLink>
          <NavLink to="/audit">{t('nav.audit')}</NavLink>
        </nav>
      )}
      <div className="spacer" />
      <LanguageSwitch />
      {session && (
        <>
          <span className="who">
            {t('app.signedInAs', { user: session.user })}
            {session.isAdmin ? ` (${t('app.admin')})` : ''}
          </span>
          <button type="button" className="secondary" onClick={() => void logout()}>
            {t('app.logout')}
          </button>
        </>
      )}
    </header>
  );
}

function ProjectFrame() {
  const { t } = useTranslation();
  const { project = '' } = useParams();
  const base = `/p/${encodeURIComponent(project)}`;
  return (
    <>
      <nav aria-label={t('nav.project', { project })} className="subnav">
        <span className="crumb">{project}</span>
        <NavLink to={base} end>
          {t('nav.overview')}
        </NavLink>
        <NavLink to={`${base}/datasets`}>{t('nav.datasets')}</NavLink>
        <NavLink to={`${base}/studies`}>{t('nav.studies')}</NavLink>
        <NavLink to={`${base}/models`}>{t('nav.models')}</NavLink>
        <NavLink to={`${base}/deployments`}>{t('nav.deployments')}</NavLink>
      </nav>
      <Outlet />
    </>
  );
}

function RequireSession() {
  const { session, checking } = useSession();
  const location = useLocation();
  if (checking) return <Loading />;
  if (!session) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  return <Outlet />;
}

function NotFound() {
  const { t } = useTranslation();
  return <h1>{t('app.notFound')}</h1>;
}

export function App() {
  return (
    <>
      <Header />
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<Loading />}>
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route element={<RequireSession />}>
              <Route index element={<ProjectsPage />} />
              <Route path="audit" element={<AuditPage />} />
              <Route path="p/:project" element={<ProjectFrame />}>
                <Route index element={<ProjectOverview />} />
                <Route path="datasets" element={<DatasetsPage />} />
                <Route path="datasets/:dataset" element={<DatasetPage />} />
                <Route path="studies" element={<StudiesPage />} />
                <Route path="studies/:study" element={<StudyPage />} />
                <Route path="models" element={<ModelsPage />} />
                <Route path="models/:model/:version" element={<ModelVersionPage />} />
                <Route path="deployments" element={<DeploymentsPage />} />
                <Route path="deployments/:name" element={<DeploymentPage />} />
              </Route>
              <Route path="*" element={<NotFound />} />
            </Route>
          </Routes>
        </Suspense>
      </main>
    </>
  );
}
