"""The OCPI protocol layer: transport, authentication, routing headers, pagination, versions, credentials
and the client every outgoing call goes through."""
