/** What a DAG file may pass where Airflow takes an Asset (outlets, asset schedules). */
export interface AssetLike {
  uri: string;
  name?: string;
}
