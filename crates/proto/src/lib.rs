//! The wire contracts of onestop: one module per service package, generated from `proto/`.

pub mod catalogue {
    pub mod v1 {
        tonic::include_proto!("onestop.catalogue.v1");
    }
}

pub mod intake {
    pub mod v1 {
        tonic::include_proto!("onestop.intake.v1");
    }
}

pub mod aggregation {
    pub mod v1 {
        tonic::include_proto!("onestop.aggregation.v1");
    }
}

/// Encoded `FileDescriptorSet` of every onestop proto, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("onestop_descriptor");

pub mod convert;
