//! The stock ledger: SetStock, AdjustStock and TransferStock (each in one
//! idempotent transaction), Restock, SetSafetyStock, SetStockThreshold, and the
//! listings ListStockMovements and ListLowStock.

use std::collections::{HashMap, HashSet};

use oms_platform::{error::FieldViolations, idempotency::IdempotencyKey, paging::Pages};
use oms_proto::inventory::v1 as pb;

use super::{Inventory, convert::*};
use crate::{
    domain::{
        Actor, AdjustmentReason, LocationId, MintedId, MovementKind, Quantity, Sku, reservation,
    },
    error::InventoryError,
    store::{
        MovementMeta, Store,
        stock::{Change, MovementFilter, RestockLine},
    },
};

const SET_STOCK: &str = "oms.inventory.v1.InventoryService/SetStock";
const ADJUST_STOCK: &str = "oms.inventory.v1.InventoryService/AdjustStock";
const TRANSFER_STOCK: &str = "oms.inventory.v1.InventoryService/TransferStock";

/// Most characters of a movement's note.
const MAX_NOTE: usize = 500;

/// A checked SetStock or AdjustStock: one stock row, who changes it and why.
pub(super) struct StockChange {
    sku: Sku,
    location: LocationId,
    change: Change,
    actor: Actor,
    note: String,
}

impl StockChange {
    pub(super) fn check_set(
        violations: &mut FieldViolations,
        request: &pb::SetStockRequest,
    ) -> Option<StockChange> {
        let key = stock_key(violations, &request.sku, &request.location_id);
        if request.on_hand < 0 {
            violations.add("on_hand", "must be 0 or more");
        }
        let change = Change::Count {
            on_hand: request.on_hand,
        };
        let actor = actor(violations, request.actor.as_ref());
        StockChange::with(violations, key, Some(change), actor, &request.note)
    }

    pub(super) fn check_adjust(
        violations: &mut FieldViolations,
        request: &pb::AdjustStockRequest,
    ) -> Option<StockChange> {
        let key = stock_key(violations, &request.sku, &request.location_id);
        let reason = AdjustmentReason::from_code(request.reason);
        match reason {
            None => violations.add("reason", "required"),
            Some(_) if request.delta == 0 || request.delta == i32::MIN => {
                violations.add("delta", "must be non-zero and above -2147483648")
            }
            Some(reason) if !reason.allows(request.delta) => {
                violations.add("delta", "sign does not fit the reason")
            }
            Some(_) => {}
        }
        let change = reason.map(|reason| Change::Adjust {
            delta: request.delta,
            reason,
        });
        let actor = actor(violations, request.actor.as_ref());
        if request.reference_id.chars().count() > 128 {
            violations.add("reference_id", "at most 128 characters");
        }
        StockChange::with(violations, key, change, actor, &request.note)
    }

    fn with(
        violations: &mut FieldViolations,
        key: Option<(Sku, LocationId)>,
        change: Option<Change>,
        actor: Option<Actor>,
        note: &str,
    ) -> Option<StockChange> {
        let note = self::note(violations, "note", note, MAX_NOTE);
        let (sku, location) = key?;
        Some(StockChange {
            sku,
            location,
            change: change?,
            actor: actor?,
            note,
        })
    }

    fn meta<'a>(&'a self, reference_id: &'a str) -> MovementMeta<'a> {
        MovementMeta {
            actor: &self.actor,
            reference_id,
            note: &self.note,
        }
    }
}

/// A checked TransferStock: lines as (index in the request, SKU, quantity).
pub(super) struct Transfer {
    from: LocationId,
    to: LocationId,
    lines: Vec<(usize, Sku, Quantity)>,
    actor: Actor,
    note: String,
}

impl Transfer {
    pub(super) fn check(
        violations: &mut FieldViolations,
        request: &pb::TransferStockRequest,
    ) -> Option<Transfer> {
        let from = location_id(violations, "from_location_id", &request.from_location_id);
        let to = location_id(violations, "to_location_id", &request.to_location_id);
        if from.is_some() && from == to {
            violations.add("to_location_id", "must differ from from_location_id");
        }
        line_count(violations, request.lines.len(), MAX_TRANSFER_LINES);
        let mut lines = Vec::new();
        let mut seen = HashSet::new();
        for (index, line) in request.lines.iter().enumerate() {
            let sku = sku(violations, format!("lines[{index}].sku"), &line.sku);
            let quantity = quantity(
                violations,
                format!("lines[{index}].quantity"),
                line.quantity,
            );
            if !seen.insert(line.sku.as_str()) {
                violations.add(format!("lines[{index}].sku"), "repeats an earlier line");
            }
            if let (Some(sku), Some(quantity)) = (sku, quantity) {
                lines.push((index, sku, quantity));
            }
        }
        let actor = actor(violations, request.actor.as_ref());
        let note = note(violations, "note", &request.note, MAX_NOTE);
        Some(Transfer {
            from: from?,
            to: to?,
            lines,
            actor: actor?,
            note,
        })
    }
}

/// A checked Restock: its source and lines.
pub(super) struct Restock {
    source: i16,
    source_id: String,
    lines: Vec<RestockLine>,
    actor: Actor,
    note: String,
}

impl Restock {
    pub(super) fn check(
        violations: &mut FieldViolations,
        request: &pb::RestockRequest,
    ) -> Option<Restock> {
        if !matches!(
            pb::RestockSource::try_from(request.source),
            Ok(pb::RestockSource::Return | pb::RestockSource::Cancellation)
        ) {
            violations.add("source", "required");
        }
        // The return's or the order's id.
        let source_id = violations.check("source_id", MintedId::parse(&request.source_id));
        line_count(violations, request.lines.len(), reservation::MAX_LINES);
        let mut lines = Vec::new();
        let mut seen = HashSet::new();
        for (index, line) in request.lines.iter().enumerate() {
            if line.line_id.is_empty() || line.line_id.len() > 128 {
                violations.add(
                    format!("lines[{index}].line_id"),
                    "must be 1 to 128 characters",
                );
            } else if !seen.insert(line.line_id.as_str()) {
                violations.add(format!("lines[{index}].line_id"), "repeats an earlier line");
            }
            let units = (line.sku.as_str(), line.location_id.as_str(), line.quantity);
            if let Some(units) = units_line(violations, index, units) {
                lines.push(RestockLine {
                    line_id: line.line_id.clone(),
                    sku: units.sku,
                    location_id: units.location_id,
                    quantity: units.quantity,
                });
            }
        }
        let actor = actor(violations, request.actor.as_ref());
        let note = note(violations, "note", &request.note, MAX_NOTE);
        Some(Restock {
            source: i16::try_from(request.source).unwrap_or_default(),
            source_id: source_id?.as_str().to_owned(),
            lines,
            actor: actor?,
            note,
        })
    }
}

/// Which figure of a stock row a setting changes.
#[derive(Debug, Clone, Copy)]
enum Setting {
    SafetyStock,
    Threshold,
}

/// A checked SetSafetyStock or SetStockThreshold: the row and its new value.
pub(super) struct StockSetting {
    setting: Setting,
    sku: Sku,
    location: LocationId,
    value: i32,
    actor: Actor,
}

impl StockSetting {
    pub(super) fn check_safety_stock(
        violations: &mut FieldViolations,
        request: &pb::SetSafetyStockRequest,
    ) -> Option<StockSetting> {
        let row = (
            request.sku.as_str(),
            request.location_id.as_str(),
            request.safety_stock,
        );
        StockSetting::check(
            violations,
            Setting::SafetyStock,
            row,
            request.actor.as_ref(),
        )
    }

    pub(super) fn check_threshold(
        violations: &mut FieldViolations,
        request: &pb::SetStockThresholdRequest,
    ) -> Option<StockSetting> {
        let row = (
            request.sku.as_str(),
            request.location_id.as_str(),
            request.threshold,
        );
        StockSetting::check(violations, Setting::Threshold, row, request.actor.as_ref())
    }

    fn check(
        violations: &mut FieldViolations,
        setting: Setting,
        (sku, location_id, value): (&str, &str, i32),
        actor: Option<&oms_proto::common::v1::Actor>,
    ) -> Option<StockSetting> {
        let key = stock_key(violations, sku, location_id);
        if value < 0 {
            let field = match setting {
                Setting::SafetyStock => "safety_stock",
                Setting::Threshold => "threshold",
            };
            violations.add(field, "must be 0 or more");
        }
        let actor = self::actor(violations, actor);
        let (sku, location) = key?;
        Some(StockSetting {
            setting,
            sku,
            location,
            value,
            actor: actor?,
        })
    }
}

/// A checked ListStockMovements: its filters and its page, newest first.
pub(super) struct ListMovements {
    filter: MovementFilter,
    pages: Pages<i64>,
}

impl ListMovements {
    pub(super) fn check(
        violations: &mut FieldViolations,
        request: &pb::ListStockMovementsRequest,
    ) -> Option<ListMovements> {
        let pages = Pages::of_request(request, |r| r.page.take(), violations);
        let start = time(violations, "start_time", request.start_time.as_ref());
        let end = time(violations, "end_time", request.end_time.as_ref());
        if let (Some(start), Some(end)) = (start, end)
            && start > end
        {
            violations.add("start_time", "after end_time");
        }
        let kinds = kinds(violations, &request.kinds, |code| {
            MovementKind::from_code(code).map(MovementKind::code)
        });
        let text = |value: &str| Some(value.to_owned()).filter(|value| !value.is_empty());
        Some(ListMovements {
            filter: MovementFilter {
                sku: text(&request.sku),
                location_id: text(&request.location_id),
                kinds,
                reference_id: text(&request.reference_id),
                start_time: start,
                end_time: end,
            },
            pages,
        })
    }
}

/// A checked ListLowStock: its filters and its page, furthest under first.
pub(super) struct ListLowStock {
    location_ids: Vec<String>,
    skus: Vec<String>,
    pages: Pages<(i32, String, String)>,
}

impl ListLowStock {
    pub(super) fn check(
        violations: &mut FieldViolations,
        request: &pb::ListLowStockRequest,
    ) -> Option<ListLowStock> {
        let pages = Pages::of_request(request, |r| r.page.take(), violations);
        Some(ListLowStock {
            location_ids: request.location_ids.clone(),
            skus: sku_list(violations, &request.skus, false),
            pages,
        })
    }
}

impl Inventory {
    pub(super) async fn set_stock(
        &self,
        key: &IdempotencyKey,
        request: &pb::SetStockRequest,
        set: StockChange,
    ) -> Result<pb::SetStockResponse, InventoryError> {
        let response = self
            .idempotency
            .run(SET_STOCK, key, request, async |tx| {
                let (stock, moved) =
                    Store::apply_change(tx, &set.sku, &set.location, set.change, &set.meta(""))
                        .await?;
                Ok::<_, InventoryError>(pb::SetStockResponse {
                    stock: Some(stock_level(&stock)),
                    movement: Some(movement(&moved)),
                })
            })
            .await?;
        self.changed([set.sku.as_str()]).await;
        Ok(response)
    }

    pub(super) async fn adjust_stock(
        &self,
        key: &IdempotencyKey,
        request: &pb::AdjustStockRequest,
        adjust: StockChange,
    ) -> Result<pb::AdjustStockResponse, InventoryError> {
        let (sku, location) = (&adjust.sku, &adjust.location);
        let response = self
            .idempotency
            .run(ADJUST_STOCK, key, request, async |tx| {
                // Units cannot leave a SKU nobody stocks; the location is named first.
                if request.delta < 0 && !Store::sku_known(tx, sku).await? {
                    crate::store::stock::require_location(tx, location).await?;
                    return Err(InventoryError::not_found("sku", sku.as_str()));
                }
                let meta = adjust.meta(&request.reference_id);
                let (stock, moved) =
                    Store::apply_change(tx, sku, location, adjust.change, &meta).await?;
                Ok::<_, InventoryError>(pb::AdjustStockResponse {
                    stock: Some(stock_level(&stock)),
                    movement: Some(movement(&moved)),
                })
            })
            .await?;
        self.changed([sku.as_str()]).await;
        Ok(response)
    }

    pub(super) async fn transfer_stock(
        &self,
        key: &IdempotencyKey,
        request: &pb::TransferStockRequest,
        transfer: Transfer,
    ) -> Result<pb::TransferStockResponse, InventoryError> {
        let Transfer {
            from,
            to,
            lines,
            actor,
            note,
        } = &transfer;
        let response = self
            .idempotency
            .run(TRANSFER_STOCK, key, request, async |tx| {
                crate::store::stock::require_location(tx, from).await?;
                crate::store::stock::require_location(tx, to).await?;
                let transfer_id = uuid::Uuid::now_v7().to_string();
                let meta = MovementMeta {
                    actor,
                    reference_id: &transfer_id,
                    note,
                };
                // Rows are locked in (sku, location) order, as every writer does.
                let mut sorted = lines.clone();
                sorted.sort_by(|a, b| a.1.cmp(&b.1));
                let mut results = HashMap::new();
                for (index, sku, quantity) in &sorted {
                    if !Store::sku_known(tx, sku).await? {
                        return Err(InventoryError::not_found("sku", sku.as_str()));
                    }
                    let mut sides = [
                        (from, Change::TransferOut(*quantity)),
                        (to, Change::TransferIn(*quantity)),
                    ];
                    sides.sort_by(|a, b| a.0.cmp(b.0));
                    for (location, change) in sides {
                        let done = Store::apply_change(tx, sku, location, change, &meta).await?;
                        results.insert((*index, location == to), done);
                    }
                }
                let mut response = pb::TransferStockResponse {
                    transfer_id,
                    ..Default::default()
                };
                for (index, ..) in lines {
                    for destination in [false, true] {
                        if let Some((stock, moved)) = results.get(&(*index, destination)) {
                            response.stock.push(stock_level(stock));
                            response.movements.push(movement(moved));
                        }
                    }
                }
                Ok(response)
            })
            .await?;
        self.changed(lines.iter().map(|(_, sku, _)| sku.as_str()))
            .await;
        Ok(response)
    }

    pub(super) async fn restock(
        &self,
        restock: Restock,
    ) -> Result<pb::RestockResponse, InventoryError> {
        let Restock {
            source,
            source_id,
            lines,
            actor,
            note,
        } = &restock;
        let mut tx = self.store.begin().await?;
        let applied = Store::restock(&mut tx, *source, source_id, lines, actor, note).await?;
        tx.commit().await?;
        self.changed(lines.iter().map(|line| line.sku.as_str()))
            .await;
        Ok(pb::RestockResponse {
            stock: applied
                .iter()
                .map(|(stock, _)| stock_level(stock))
                .collect(),
            movements: applied.iter().map(|(_, moved)| movement(moved)).collect(),
        })
    }

    /// SetSafetyStock or SetStockThreshold: the stock row as it is now.
    pub(super) async fn set_stock_setting(
        &self,
        set: StockSetting,
    ) -> Result<Option<pb::StockLevel>, InventoryError> {
        let StockSetting {
            setting,
            sku,
            location,
            value,
            actor,
        } = &set;
        let mut tx = self.store.begin().await?;
        let stock = match setting {
            Setting::SafetyStock => {
                Store::set_safety_stock(&mut tx, sku, location, *value, actor).await?
            }
            // A threshold changes no units: no ledger entry, no actor recorded.
            Setting::Threshold => Store::set_threshold(&mut tx, sku, location, *value).await?,
        };
        tx.commit().await?;
        self.changed([sku.as_str()]).await;
        Ok(Some(stock_level(&stock)))
    }

    pub(super) async fn list_stock_movements(
        &self,
        list: ListMovements,
    ) -> Result<pb::ListStockMovementsResponse, InventoryError> {
        let ListMovements { filter, pages } = list;
        let mut rows = self
            .store
            .movements(&filter, pages.after, pages.fetch())
            .await?;
        let page = pages.finish(&mut rows, |row| row.sequence);
        Ok(pb::ListStockMovementsResponse {
            movements: rows.iter().map(movement).collect(),
            page: Some(page),
        })
    }

    pub(super) async fn list_low_stock(
        &self,
        list: ListLowStock,
    ) -> Result<pb::ListLowStockResponse, InventoryError> {
        let ListLowStock {
            location_ids,
            skus,
            pages,
        } = list;
        let mut rows = self
            .store
            .low_stock(&location_ids, &skus, pages.after.as_ref(), pages.fetch())
            .await?;
        let page = pages.finish(&mut rows, |row| {
            let gap = row.figures().available() - row.low_stock_threshold;
            (gap, row.sku.clone(), row.location_id.clone())
        });
        Ok(pb::ListLowStockResponse {
            stock: rows.iter().map(stock_level).collect(),
            page: Some(page),
        })
    }
}
