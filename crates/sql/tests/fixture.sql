insert into customer_raw values
  (71,'Ann','Lee','ann@x.com','1 Road','Town','Ohio','Peru'),
  (72,'Bob','Ray','bob@x.com','2 Road','Town','Ohio','Peru'),
  (73,'Cid','Fox','cid@x.com','3 Road','Town','Ohio','Peru'),
  (74,'Dee','Kay','dee@x.com','4 Road','Town','Ohio','Peru')
