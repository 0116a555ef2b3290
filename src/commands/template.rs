//! CALC.TEMPLATE.SET | GET | DEL | LIST: the server-wide template registry,
//! modelled on FUNCTION LOAD. Templates are not keys; SET and DEL replicate as
//! themselves so replicas and the AOF hold the same registry.

use redis_module::{Context, RedisResult, RedisString};

use super::run;
use crate::effects;
use crate::error::CalcError;
use crate::keys::bytes_of;
use crate::msgpack::Sink;
use crate::template::{registry, registry_mut, Template};

/// CALC.TEMPLATE.SET name definition
pub fn set(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    run(ctx, args, |ctx, args, reply| {
        let [_, name, definition] = args else {
            return Err(CalcError::WrongArity);
        };
        let template = Template::parse(bytes_of(definition.inner))
            .map_err(|reason| CalcError::InvalidTemplate { reason })?;
        registry_mut().set(bytes_of(name.inner), template);
        effects::verbatim(ctx);
        reply.ok();
        Ok(())
    })
}

/// CALC.TEMPLATE.GET name
pub fn get(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    run(ctx, args, |_, args, reply| {
        let [_, name] = args else {
            return Err(CalcError::WrongArity);
        };
        match registry().get(bytes_of(name.inner)) {
            Some(template) => reply.bytes(template.to_json().as_bytes()),
            None => reply.null(),
        }
        Ok(())
    })
}

/// CALC.TEMPLATE.DEL name
pub fn del(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    run(ctx, args, |ctx, args, reply| {
        let [_, name] = args else {
            return Err(CalcError::WrongArity);
        };
        let removed = registry_mut().remove(bytes_of(name.inner));
        if removed {
            effects::verbatim(ctx);
        }
        reply.integer(removed as i64);
        Ok(())
    })
}

/// CALC.TEMPLATE.LIST
pub fn list(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    run(ctx, args, |_, args, reply| {
        let [_] = args else {
            return Err(CalcError::WrongArity);
        };
        let registry = registry();
        reply.array(registry.len());
        for (name, _) in registry.iter() {
            reply.bytes(name);
        }
        Ok(())
    })
}
