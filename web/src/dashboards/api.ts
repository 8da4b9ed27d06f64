import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import type { DashboardQuery } from './period';

export type DashboardOut = Schemas['DashboardOut'];
export type DashboardFigures = Schemas['DashboardFigures'];

/** CDR-3: the figures of a period, computed by the server (GET /dashboards). */
export function useDashboard(query: DashboardQuery) {
  return useQuery({
    queryKey: ['dashboards', query],
    queryFn: () => unwrap(api.GET('/api/v1/dashboards', { params: { query } })),
    placeholderData: keepPreviousData,
  });
}
