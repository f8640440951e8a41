pub mod api_call;
