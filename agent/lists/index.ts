/** Public surface of the mailing-list entity (agent/lists). */
export { ListHost, LIST_DEFAULTS, LIST_POLICIES, copyIdFor, type ListPolicy, type ListSettings, type ListStatus, type ListPostStatus, type ListTunables } from './list.js';
