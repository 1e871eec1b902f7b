module git.awesomike.com/pub/waymaker-client/go/server

go 1.26.0

require git.awesomike.com/pub/waymaker-client/go v0.0.0-00010101000000-000000000000

replace git.awesomike.com/pub/waymaker-client/go => ../
