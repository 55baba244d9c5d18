// Package wallet is the client library of a simulated retail user or
// merchant: its keys, its connection to an intermediary, payments, and the
// offline purse that pays other purses with signed vouchers.
package wallet
