//! LINSTOR REST client and the storage semantics shared by every frontend.
