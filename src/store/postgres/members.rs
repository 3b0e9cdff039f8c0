//! API roots, collections, members, certificates, grants and tokens: the
//! records authentication reads, and the snapshot of all of them. Every
//! change bumps the auth revision (a trigger in the schema) and notifies
//! every node.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::pool::Db;
use super::sql;
use crate::model::{CollectionId, Tier, Timestamp};
use crate::store::{
    ApiRoot, AuthData, CertificateRecord, Collection, CollectionUpdate, Grant, Grantee, Member,
    MemberUpdate, NewMember, StoreError, StoreResult, TokenRecord,
};

fn ts(micros: i64) -> Timestamp {
    Timestamp::from_micros(micros)
}

fn tier(text: &str) -> StoreResult<Tier> {
    text.parse()
        .map_err(|e: String| StoreError::Corrupt(format!("tier: {e}")))
}

pub fn api_root_row(r: &Row) -> ApiRoot {
    ApiRoot {
        name: r.get(0),
        title: r.get(1),
        description: r.get(2),
        max_content_length: r.get::<_, i64>(3) as u64,
        is_default: r.get(4),
    }
}

pub fn collection_row(r: &Row) -> StoreResult<Collection> {
    Ok(Collection {
        id: CollectionId(r.get(0)),
        api_root: r.get(1),
        alias: r.get(2),
        title: r.get(3),
        description: r.get(4),
        tier: tier(r.get(5))?,
        created: ts(r.get(6)),
    })
}

pub fn member_row(r: &Row) -> StoreResult<Member> {
    Ok(Member {
        name: r.get(0),
        sector: r.get(1),
        contact: r.get(2),
        identity_ref: r.get(3),
        clearance: tier(r.get(4))?,
        suspended: r.get(5),
        is_operator: r.get(6),
        created: ts(r.get(7)),
    })
}

pub fn certificate_row(r: &Row) -> CertificateRecord {
    CertificateRecord {
        member: r.get(0),
        fingerprint: r.get(1),
        serial: r.get(2),
        subject: r.get(3),
        not_before: ts(r.get(4)),
        not_after: ts(r.get(5)),
        revoked_at: r.get::<_, Option<i64>>(6).map(ts),
        added: ts(r.get(7)),
    }
}

pub fn grant_row(r: &Row) -> Grant {
    let member: Option<String> = r.get(1);
    let sector: Option<String> = r.get(2);
    Grant {
        collection: CollectionId(r.get(0)),
        grantee: match (member, sector) {
            (Some(m), _) => Grantee::Member(m),
            (None, s) => Grantee::Sector(s.unwrap_or_default()),
        },
        read: r.get(3),
        write: r.get(4),
    }
}

pub fn token_row(r: &Row) -> TokenRecord {
    TokenRecord {
        id: r.get(0),
        member: r.get(1),
        hash: r.get(2),
        created: ts(r.get(3)),
        expires: r.get::<_, Option<i64>>(4).map(ts),
        revoked_at: r.get::<_, Option<i64>>(5).map(ts),
    }
}

pub async fn api_roots<C: GenericClient>(db: &Db<'_, C>) -> StoreResult<Vec<ApiRoot>> {
    Ok(db
        .query(sql::API_ROOTS, &[])
        .await?
        .iter()
        .map(api_root_row)
        .collect())
}

pub async fn upsert_api_root<C: GenericClient>(db: &Db<'_, C>, root: &ApiRoot) -> StoreResult<()> {
    db.execute(
        sql::API_ROOT_UPSERT,
        &[
            &root.name,
            &root.title,
            &root.description,
            &(root.max_content_length.min(i64::MAX as u64) as i64),
            &root.is_default,
        ],
    )
    .await?;
    if root.is_default {
        db.execute(sql::API_ROOT_CLEAR_DEFAULT, &[&root.name])
            .await?;
    }
    Ok(())
}

pub async fn delete_api_root<C: GenericClient>(db: &Db<'_, C>, name: &str) -> StoreResult<()> {
    if db.execute(sql::API_ROOT_DELETE, &[&name]).await? == 0 {
        return Err(StoreError::Conflict(format!(
            "API root '{name}' does not exist or still holds collections"
        )));
    }
    Ok(())
}

pub async fn collections<C: GenericClient>(db: &Db<'_, C>) -> StoreResult<Vec<Collection>> {
    db.query(sql::COLLECTIONS, &[])
        .await?
        .iter()
        .map(collection_row)
        .collect()
}

pub async fn collection<C: GenericClient>(
    db: &Db<'_, C>,
    id: CollectionId,
) -> StoreResult<Option<Collection>> {
    db.query_opt(sql::COLLECTION, &[&id.0])
        .await?
        .as_ref()
        .map(collection_row)
        .transpose()
}

pub async fn insert_collection<C: GenericClient>(
    db: &Db<'_, C>,
    c: &Collection,
) -> StoreResult<()> {
    db.execute(
        sql::COLLECTION_INSERT,
        &[
            &c.id.0,
            &c.api_root,
            &c.alias,
            &c.title,
            &c.description,
            &c.tier.as_str(),
            &c.created.micros(),
        ],
    ).await
    .map_err(|e| {
        super::conflict(e, || {
            format!(
                "a collection with alias '{}' already exists in API root '{}', or the API root does not exist",
                c.alias.clone().unwrap_or_default(),
                c.api_root
            )
        })
    })?;
    Ok(())
}

pub async fn update_collection<C: GenericClient>(
    db: &Db<'_, C>,
    id: CollectionId,
    update: &CollectionUpdate,
) -> StoreResult<Collection> {
    let mut current = collection(db, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("collection {id}")))?;
    if let Some(t) = &update.title {
        current.title = t.clone();
    }
    if let Some(d) = &update.description {
        current.description = d.clone();
    }
    if let Some(a) = &update.alias {
        current.alias = a.clone();
    }
    if let Some(t) = update.tier {
        current.tier = t;
    }
    db.execute(
        sql::COLLECTION_UPDATE,
        &[
            &id.0,
            &current.alias,
            &current.title,
            &current.description,
            &current.tier.as_str(),
        ],
    )
    .await
    .map_err(|e| super::conflict(e, || "another collection already uses that alias".into()))?;
    Ok(current)
}

pub async fn delete_collection<C: GenericClient>(
    db: &Db<'_, C>,
    id: CollectionId,
) -> StoreResult<()> {
    // Under the collection's lock: an ingest halfway through it commits
    // first (its objects are purged with the others), every later one finds
    // the collection gone. The objects go later, in short transactions
    // (`purge_deleted_collections`).
    super::objects::lock_collection(db, id).await?;
    let marked = db
        .execute(
            sql::COLLECTION_MARK_DELETED,
            &[&id.0, &Timestamp::now().micros()],
        )
        .await?;
    if marked == 0 {
        return Err(StoreError::NotFound(format!("collection {id}")));
    }
    db.execute(sql::COLLECTION_GRANTS_DELETE, &[&id.0]).await?;
    Ok(())
}

pub async fn members<C: GenericClient>(db: &Db<'_, C>) -> StoreResult<Vec<Member>> {
    db.query(sql::MEMBERS, &[])
        .await?
        .iter()
        .map(member_row)
        .collect()
}

async fn member_by_name<C: GenericClient>(
    db: &Db<'_, C>,
    name: &str,
) -> StoreResult<Option<Member>> {
    db.query_opt(sql::MEMBER_BY_NAME, &[&name])
        .await?
        .as_ref()
        .map(member_row)
        .transpose()
}

pub async fn member_id<C: GenericClient>(db: &Db<'_, C>, name: &str) -> StoreResult<i64> {
    db.query_opt(sql::MEMBER_ID, &[&name])
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::NotFound(format!("member '{name}'")))
}

pub async fn create_member<C: GenericClient>(
    db: &Db<'_, C>,
    new: &NewMember,
) -> StoreResult<Member> {
    db.execute(
        sql::MEMBER_INSERT,
        &[
            &new.name,
            &new.sector,
            &new.contact,
            &new.identity_ref,
            &new.clearance.as_str(),
            &new.is_operator,
            &Timestamp::now().micros(),
        ],
    )
    .await
    .map_err(|e| {
        super::conflict(e, || {
            format!("a member named '{}' already exists", new.name)
        })
    })?;
    member_by_name(db, &new.name)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("member '{}'", new.name)))
}

pub async fn update_member<C: GenericClient>(
    db: &Db<'_, C>,
    name: &str,
    update: &MemberUpdate,
) -> StoreResult<Member> {
    let mut m = member_by_name(db, name)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("member '{name}'")))?;
    if let Some(s) = &update.sector {
        m.sector = s.clone();
    }
    if let Some(c) = &update.contact {
        m.contact = c.clone();
    }
    if let Some(i) = &update.identity_ref {
        m.identity_ref = i.clone();
    }
    if let Some(c) = update.clearance {
        m.clearance = c;
    }
    if let Some(s) = update.suspended {
        m.suspended = s;
    }
    db.execute(
        sql::MEMBER_UPDATE,
        &[
            &name,
            &m.sector,
            &m.contact,
            &m.identity_ref,
            &m.clearance.as_str(),
            &m.suspended,
        ],
    )
    .await?;
    Ok(m)
}

pub async fn delete_member<C: GenericClient>(db: &Db<'_, C>, name: &str) -> StoreResult<()> {
    if db.execute(sql::MEMBER_DELETE, &[&name]).await? == 0 {
        return Err(StoreError::NotFound(format!("member '{name}'")));
    }
    Ok(())
}

pub async fn add_certificate<C: GenericClient>(
    db: &Db<'_, C>,
    cert: &CertificateRecord,
) -> StoreResult<()> {
    let member = member_id(db, &cert.member).await?;
    db.execute(
        sql::CERTIFICATE_INSERT,
        &[
            &cert.fingerprint,
            &member,
            &cert.serial,
            &cert.subject,
            &cert.not_before.micros(),
            &cert.not_after.micros(),
            &cert.revoked_at.map(|t| t.micros()),
            &cert.added.micros(),
        ],
    )
    .await
    .map_err(|e| super::conflict(e, || "that certificate is already registered".into()))?;
    Ok(())
}

pub async fn certificates<C: GenericClient>(db: &Db<'_, C>) -> StoreResult<Vec<CertificateRecord>> {
    Ok(db
        .query(sql::CERTIFICATES, &[])
        .await?
        .iter()
        .map(certificate_row)
        .collect())
}

pub async fn revoke_certificate<C: GenericClient>(
    db: &Db<'_, C>,
    fingerprint: &str,
    at: Timestamp,
) -> StoreResult<CertificateRecord> {
    let fp = fingerprint.to_ascii_lowercase().replace(':', "");
    db.execute(sql::CERTIFICATE_REVOKE, &[&fp, &at.micros()])
        .await?;
    db.query_opt(sql::CERTIFICATE, &[&fp])
        .await?
        .as_ref()
        .map(certificate_row)
        .ok_or_else(|| StoreError::NotFound(format!("certificate {fp}")))
}

pub async fn set_grant<C: GenericClient>(db: &Db<'_, C>, grant: &Grant) -> StoreResult<()> {
    let collection = grant.collection;
    let missing = || format!("collection {collection} does not exist");
    let changed = match &grant.grantee {
        Grantee::Member(name) => {
            let id = member_id(db, name).await?;
            db.execute(
                sql::GRANT_UPSERT_MEMBER,
                &[&collection.0, &id, &grant.read, &grant.write],
            )
            .await
        }
        Grantee::Sector(sector) => {
            db.execute(
                sql::GRANT_UPSERT_SECTOR,
                &[&collection.0, sector, &grant.read, &grant.write],
            )
            .await
        }
    }
    .map_err(|e| super::conflict(e, missing))?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("collection {collection}")));
    }
    Ok(())
}

pub async fn remove_grant<C: GenericClient>(
    db: &Db<'_, C>,
    collection: CollectionId,
    grantee: &Grantee,
) -> StoreResult<()> {
    let n = match grantee {
        Grantee::Member(name) => {
            let id = member_id(db, name).await?;
            db.execute(sql::GRANT_DELETE_MEMBER, &[&collection.0, &id])
                .await?
        }
        Grantee::Sector(s) => {
            db.execute(sql::GRANT_DELETE_SECTOR, &[&collection.0, s])
                .await?
        }
    };
    if n == 0 {
        return Err(StoreError::NotFound("grant".into()));
    }
    Ok(())
}

pub async fn grants<C: GenericClient>(db: &Db<'_, C>) -> StoreResult<Vec<Grant>> {
    Ok(db
        .query(sql::GRANTS, &[])
        .await?
        .iter()
        .map(grant_row)
        .collect())
}

pub async fn add_token<C: GenericClient>(db: &Db<'_, C>, token: &TokenRecord) -> StoreResult<()> {
    let member = member_id(db, &token.member).await?;
    db.execute(
        sql::TOKEN_INSERT,
        &[
            &token.id,
            &member,
            &token.hash,
            &token.created.micros(),
            &token.expires.map(|t| t.micros()),
            &token.revoked_at.map(|t| t.micros()),
        ],
    )
    .await
    .map_err(|e| super::conflict(e, || "that token is already registered".into()))?;
    Ok(())
}

pub async fn revoke_token<C: GenericClient>(
    db: &Db<'_, C>,
    id: &str,
    at: Timestamp,
) -> StoreResult<()> {
    if db.execute(sql::TOKEN_REVOKE, &[&id, &at.micros()]).await? == 0 {
        return Err(StoreError::NotFound(format!("active token '{id}'")));
    }
    Ok(())
}

pub async fn tokens<C: GenericClient>(db: &Db<'_, C>) -> StoreResult<Vec<TokenRecord>> {
    Ok(db
        .query(sql::TOKENS, &[])
        .await?
        .iter()
        .map(token_row)
        .collect())
}

/// Everything authentication needs, read in the caller's (repeatable-read)
/// transaction so the snapshot matches its revision.
pub async fn auth_data<C: GenericClient>(db: &Db<'_, C>) -> StoreResult<AuthData> {
    Ok(AuthData {
        revision: db.query_one(sql::AUTH_REVISION, &[]).await?.get(0),
        members: members(db).await?,
        certificates: certificates(db).await?,
        grants: grants(db).await?,
        tokens: tokens(db).await?,
        collections: collections(db).await?,
        api_roots: api_roots(db).await?,
    })
}
