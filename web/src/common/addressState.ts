import { useSearchParams } from 'react-router-dom';

export type AddressPatch = Record<string, string | null>;

/**
 * A page's state kept in the address (`?tab=incoming&page=2`), so reload, back and a shared link
 * show the same: the parameters, and `update` setting them (null removes one) in place of the
 * current history entry.
 */
export function useAddressParams(): [URLSearchParams, (patch: AddressPatch) => void] {
  const [params, setParams] = useSearchParams();
  const update = (patch: AddressPatch): void => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) next.delete(key);
      else next.set(key, value);
    }
    setParams(next, { replace: true });
  };
  return [params, update];
}
