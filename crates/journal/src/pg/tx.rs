//! The writer's transaction, its statements prepared once per connection.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement, Transaction};

/// The writer's transaction with its statements prepared once per
/// connection: a statement sent as text costs a prepare round trip each
/// time, which would double the round trips of every batch.
pub(crate) struct Tx<'a> {
    pub(crate) tx: Transaction<'a>,
    pub(crate) prepared: &'a Mutex<HashMap<String, Statement>>,
}

pub(crate) type Params<'p> = [&'p (dyn ToSql + Sync)];

impl Tx<'_> {
    pub(crate) async fn prepared(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.prepared.lock().ok().and_then(|m| m.get(sql).cloned()) {
            return Ok(s);
        }
        let s = self.tx.prepare(sql).await?;
        if let Ok(mut m) = self.prepared.lock() {
            m.insert(sql.to_owned(), s.clone());
        }
        Ok(s)
    }

    pub(crate) async fn execute(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<u64, tokio_postgres::Error> {
        self.tx.execute(&self.prepared(sql).await?, params).await
    }

    pub(crate) async fn query(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.tx.query(&self.prepared(sql).await?, params).await
    }

    pub(crate) async fn query_one(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Row, tokio_postgres::Error> {
        self.tx.query_one(&self.prepared(sql).await?, params).await
    }

    pub(crate) async fn query_opt(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        self.tx.query_opt(&self.prepared(sql).await?, params).await
    }
}
