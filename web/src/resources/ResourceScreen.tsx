import { useParams } from 'react-router-dom';
import { ResourceEditPage } from './ResourceEditPage';
import { ResourceListPage } from './ResourceListPage';
import type { ResourceName } from './spec';
import { SPECS } from './specs';

/** /<resource> is its list, /<resource>/new and /<resource>/<id> its form. */
// R ties the name to its description (SPECS[name] is ResourceSpec<R>), used once on purpose
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export default function ResourceScreen<R extends ResourceName>({ name }: { name: R }) {
  const params = useParams();
  const spec = SPECS[name];
  return params.id === undefined ? (
    <ResourceListPage key={name} spec={spec} />
  ) : (
    <ResourceEditPage key={`${name}/${params.id}`} spec={spec} />
  );
}
