//! resources 3.1.0: every product of the holder with its type and sharing status.

use aberta_runtime::connector::{ConnectorContext, ConnectorError, Page};
use ofb_resources_v3::connector::*;
use ofb_resources_v3::models::ResponseResourceListData;
use serde_json::json;

use crate::DemoBank;
use crate::access::{decode_page, slice};

#[async_trait::async_trait]
impl ResourcesConnector for DemoBank {
    async fn resources_get_resources(
        &self,
        ctx: &ConnectorContext,
        input: ResourcesGetResourcesInput,
    ) -> Result<Page<ResponseResourceListData>, ConnectorError> {
        let Some(holder) = self.holder(ctx).await? else {
            return Ok(Page {
                items: Vec::new(),
                total_records: 0,
            });
        };
        let rows = self.storage.products(&holder.id, None, None).await?;
        let all = rows
            .iter()
            .map(|row| json!({ "resourceId": row.id, "type": row.kind, "status": row.status }))
            .collect();
        let (items, total) = slice(all, input.page);
        decode_page(items, total)
    }
}
