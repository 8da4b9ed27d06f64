/** The lists a configuration form picks from (employees, groups, schedules, scenarios…). */
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import { unwrap } from '../api/errors';

const ALL = { limit: 1000, offset: 0 };

export function useAllEmployees() {
  return useQuery({
    queryKey: ['employees', 'list', 'all'],
    queryFn: () => unwrap(api.GET('/api/v1/employees', { params: { query: { ...ALL, sort: 'last_name' } } })),
  });
}

export function useAllSchedules() {
  return useQuery({
    queryKey: ['schedules', 'list', 'all'],
    queryFn: () => unwrap(api.GET('/api/v1/schedules', { params: { query: { ...ALL, sort: 'name' } } })),
  });
}

export function useAllScenarios() {
  return useQuery({
    queryKey: ['scenarios', 'list', 'all'],
    queryFn: () => unwrap(api.GET('/api/v1/scenarios', { params: { query: { ...ALL, sort: 'name' } } })),
  });
}

export function useAllGroups() {
  return useQuery({
    queryKey: ['groups', 'list', 'all'],
    queryFn: () => unwrap(api.GET('/api/v1/groups', { params: { query: { ...ALL, sort: 'name' } } })),
  });
}

export function useAllContacts() {
  return useQuery({
    queryKey: ['contacts', 'list', 'all'],
    queryFn: () => unwrap(api.GET('/api/v1/contacts', { params: { query: ALL } })),
  });
}

export function useAllContactGroups() {
  return useQuery({
    queryKey: ['contact-groups', 'list', 'all'],
    queryFn: () => unwrap(api.GET('/api/v1/contact-groups', { params: { query: ALL } })),
  });
}

export function useAllCallerLists() {
  return useQuery({
    queryKey: ['caller-lists', 'list', 'all'],
    queryFn: () => unwrap(api.GET('/api/v1/caller-lists', { params: { query: ALL } })),
  });
}

export function useCalendarOverrides() {
  return useQuery({
    queryKey: ['calendar-overrides', 'list', 'all'],
    queryFn: () => unwrap(api.GET('/api/v1/calendar-overrides', { params: { query: ALL } })),
  });
}
