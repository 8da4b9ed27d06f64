/**
 * What an operation's form picks from: the scenario's operations (for exits), the file base,
 * employees, groups, scenarios and segments. A plain value, so the visual editor's side panel can
 * pass the same lists.
 */
import { useQuery } from '@tanstack/react-query';
import { api, type Schemas } from '../../api/client';
import { unwrap } from '../../api/errors';
import { useAllEmployees, useAllGroups, useAllScenarios } from '../../entities/lookups';
import type { Operation } from './model';

export type AudioFile = Schemas['AudioFileOut'];
export type Employee = Schemas['EmployeeOut'];
export type Group = Schemas['GroupOut'];
export type ScenarioItem = Schemas['ScenarioOut'];
export type Segment = Schemas['SegmentOut'];

export interface OperationContext {
  /** every operation of the scenario, this one included (exits link to the others) */
  operations: readonly Operation[];
  files: readonly AudioFile[];
  employees: readonly Employee[];
  groups: readonly Group[];
  scenarios: readonly ScenarioItem[];
  segments: readonly Segment[];
  /** the scenario being edited (it cannot insert itself); null while it is new */
  scenarioId: number | null;
  /** a prefix for the ids of the inputs (labels point at them) */
  idPrefix: string;
}

const ALL = { limit: 1000, offset: 0 };

/** The file base a prompt or ringback may use: the account's sound files and the system ones. */
export function usePlayableFiles() {
  return useQuery({
    queryKey: ['files', 'list', 'playable'],
    queryFn: async () => {
      const [sound, system] = await Promise.all(
        (['sound', 'system'] as const).map((kind) =>
          unwrap(api.GET('/api/v1/files', { params: { query: { ...ALL, kind, sort: 'name' } } })),
        ),
      );
      return [...(sound?.items ?? []), ...(system?.items ?? [])];
    },
  });
}

export function useAllSegments() {
  return useQuery({
    queryKey: ['segments', 'list', 'all'],
    queryFn: () => unwrap(api.GET('/api/v1/segments', { params: { query: { ...ALL, sort: 'name' } } })),
  });
}

/** The lists of the page's operation forms (empty while they load). */
export function useContextLists(): Omit<OperationContext, 'operations' | 'scenarioId' | 'idPrefix'> {
  const files = usePlayableFiles();
  const employees = useAllEmployees();
  const groups = useAllGroups();
  const scenarios = useAllScenarios();
  const segments = useAllSegments();
  return {
    files: files.data ?? [],
    employees: employees.data?.items ?? [],
    groups: groups.data?.items ?? [],
    scenarios: scenarios.data?.items ?? [],
    segments: segments.data?.items ?? [],
  };
}

export function employeeName(employee: Employee): string {
  return `${employee.last_name} ${employee.first_name}`.trim();
}
