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
import { AppLayout } from './layout/AppLayout';
import { makeQueryClient } from './queryClient';

// Feature screens load when first opened: the first page stays small.
const CallsPage = lazy(() => import('./reports/CallsPage'));
const FilesPage = lazy(() => import('./files/FilesPage'));
const EmployeesPage = lazy(() => import('./employees/EmployeesPage'));
const EmployeeEditPage = lazy(() => import('./employees/EmployeeEditPage'));

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
          <Route path="employees" element={<EmployeesPage />} />
          <Route path="employees/new" element={<EmployeeEditPage />} />
          <Route path="employees/:id" element={<EmployeeEditPage />} />
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
