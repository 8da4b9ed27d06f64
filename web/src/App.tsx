import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { App as AntApp, ConfigProvider, Spin } from 'antd';
import enUS from 'antd/locale/en_US';
import ruRU from 'antd/locale/ru_RU';
import { lazy, Suspense } from 'react';
import { useTranslation } from 'react-i18next';
import { BrowserRouter, Route, Routes } from 'react-router-dom';
import { LoginPage } from './auth/LoginPage';
import { RequireAuth } from './auth/RequireAuth';
import { NotReady } from './common/NotReady';
import { HomePage } from './home/HomePage';
import { RESOURCE_NAMES } from './resources/names';
import { AppLayout } from './layout/AppLayout';
import { makeQueryClient } from './queryClient';

// Feature screens load when first opened: the first page stays small.
const CallsPage = lazy(() => import('./reports/CallsPage'));
const FilesPage = lazy(() => import('./files/FilesPage'));
const DashboardsPage = lazy(() => import('./dashboards/DashboardsPage'));
const LivePage = lazy(() => import('./live/LivePage'));
const EmployeesPage = lazy(() => import('./employees/EmployeesPage'));
const EmployeeEditPage = lazy(() => import('./employees/EmployeeEditPage'));
const GroupsPage = lazy(() => import('./groups/GroupsPage'));
const GroupEditPage = lazy(() => import('./groups/GroupEditPage'));
const NumbersPage = lazy(() => import('./numbers/NumbersPage'));
const NumberEditPage = lazy(() => import('./numbers/NumberEditPage'));
const SchedulesPage = lazy(() => import('./schedules/SchedulesPage'));
const ScheduleEditPage = lazy(() => import('./schedules/ScheduleEditPage'));
const ScenariosPage = lazy(() => import('./scenarios/ScenariosPage'));
const ScenarioEditPage = lazy(() => import('./scenarios/ScenarioEditPage'));
const ConfigPage = lazy(() => import('./configAsCode/ConfigPage'));
const ResourceScreen = lazy(() => import('./resources/ResourceScreen'));
const AccountSettingsPage = lazy(() => import('./resources/AccountSettingsPage'));
const SetupWizard = lazy(() => import('./setup/SetupWizard'));

export function AppRoutes() {
  return (
    <Suspense fallback={<Spin />}>
      <Routes>
        <Route path="/login" element={<LoginPage />} />
        <Route
          element={
            <RequireAuth>
              <AppLayout />
            </RequireAuth>
          }
        >
          <Route index element={<HomePage />} />
          <Route path="calls" element={<CallsPage />} />
          <Route path="files" element={<FilesPage />} />
          <Route path="dashboards" element={<DashboardsPage />} />
          <Route path="live" element={<LivePage />} />
          <Route path="employees" element={<EmployeesPage />} />
          <Route path="employees/new" element={<EmployeeEditPage />} />
          <Route path="employees/:id" element={<EmployeeEditPage />} />
          <Route path="groups" element={<GroupsPage />} />
          <Route path="groups/new" element={<GroupEditPage />} />
          <Route path="groups/:id" element={<GroupEditPage />} />
          <Route path="numbers" element={<NumbersPage />} />
          <Route path="numbers/new" element={<NumberEditPage />} />
          <Route path="numbers/:id" element={<NumberEditPage />} />
          <Route path="schedules" element={<SchedulesPage />} />
          <Route path="schedules/new" element={<ScheduleEditPage />} />
          <Route path="schedules/:id" element={<ScheduleEditPage />} />
          <Route path="scenarios" element={<ScenariosPage />} />
          <Route path="scenarios/new" element={<ScenarioEditPage />} />
          <Route path="scenarios/:id" element={<ScenarioEditPage />} />
          <Route path="config" element={<ConfigPage />} />
          <Route path="account" element={<AccountSettingsPage />} />
          <Route path="setup" element={<SetupWizard />} />
          {RESOURCE_NAMES.map((name) => (
            <Route key={name} path={name}>
              <Route index element={<ResourceScreen name={name} />} />
              <Route path=":id" element={<ResourceScreen name={name} />} />
            </Route>
          ))}
          <Route path="*" element={<NotReady />} />
        </Route>
      </Routes>
    </Suspense>
  );
}

export function Providers({ client, children }: { client: QueryClient; children: React.ReactNode }) {
  const { i18n } = useTranslation();
  return (
    <ConfigProvider locale={i18n.language === 'en' ? enUS : ruRU}>
      <AntApp>
        <QueryClientProvider client={client}>{children}</QueryClientProvider>
      </AntApp>
    </ConfigProvider>
  );
}

const queryClient = makeQueryClient();

export function App() {
  return (
    <Providers client={queryClient}>
      <BrowserRouter>
        <AppRoutes />
      </BrowserRouter>
    </Providers>
  );
}
